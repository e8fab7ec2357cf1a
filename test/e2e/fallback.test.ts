import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeVllm, type FakeVllm } from '../../scripts/fake-vllm.ts';
import { spawnGateway, type GatewayProcess } from '../support/process.ts';

let vllm: FakeVllm;
let dir: string;
const running: GatewayProcess[] = [];

beforeAll(async () => {
  vllm = await startFakeVllm();
  dir = mkdtempSync(join(tmpdir(), 'cg-fallback-'));
});
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
  await vllm.close();
});

function start(env: Record<string, string>): GatewayProcess {
  // An empty HOME: no gcloud Application Default Credentials can be found by accident.
  const p = spawnGateway({ UPSTREAM_URL: vllm.url, HOME: dir, CLOUDSDK_CONFIG: dir, ...env });
  running.push(p);
  return p;
}

async function statusOf(url: string): Promise<Record<string, unknown>> {
  return (await fetch(`${url}/auth/status`)).json() as Promise<Record<string, unknown>>;
}

describe('AUTH_FALLBACK=open (default): missing source or credentials serve unauthenticated, loudly', () => {
  const notServiceAccount = (): string => {
    const path = join(dir, 'user-creds.json');
    writeFileSync(path, JSON.stringify({ type: 'authorized_user', client_id: 'x', refresh_token: 'y' }));
    return path;
  };

  it.each([
    ['no key source', {}, 'no key source configured'],
    ['a credentials file that does not exist', { GOOGLE_SHEET_ID: 's', GOOGLE_CREDENTIALS_PATH: '/nonexistent/sa.json' }, 'cannot be read'],
    ['a credentials file that is not a service account', { GOOGLE_SHEET_ID: 's', GOOGLE_CREDENTIALS_PATH: 'NOT_SA' }, 'not a service-account key'],
    ['no Application Default Credentials', { GOOGLE_SHEET_ID: 's' }, 'no Application Default Credentials'],
  ])('%s', async (_what, env, reason) => {
    const resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === 'NOT_SA' ? notServiceAccount() : v]));
    const gw = start(resolved);
    const url = await gw.listening;
    expect(await statusOf(url)).toMatchObject({ auth_enabled: false, mode: 'open', reason: expect.stringContaining(reason) });
    const res = await fetch(`${url}/v1/models`);
    expect(res.status).toBe(200);
    expect(gw.stdout.some((l) => l.includes('AUTHENTICATION IS OFF') && l.includes('"level":40'))).toBe(true);
  });
});

describe('other modes', () => {
  it('AUTH_FALLBACK=closed refuses to start with one clear line and a non-zero exit', async () => {
    const gw = start({ AUTH_FALLBACK: 'closed', GOOGLE_SHEET_ID: 's', GOOGLE_CREDENTIALS_PATH: '/nonexistent/sa.json' });
    expect(await gw.exited).toBe(1);
    const err = gw.stderr.join('').trim().split('\n');
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/refusing to start \(AUTH_FALLBACK=closed\): Google credentials missing/);
  });

  it('AUTH_ENABLED=false is mode disabled', async () => {
    const url = await start({ AUTH_ENABLED: 'false', KEYS_FILE: '/nonexistent.csv' }).listening;
    expect(await statusOf(url)).toMatchObject({ auth_enabled: false, mode: 'disabled' });
    expect((await fetch(`${url}/v1/models`)).status).toBe(200);
  });

  it('a key file that cannot be read keeps the gateway closed (503), whatever AUTH_FALLBACK says', async () => {
    const url = await start({ KEYS_FILE: join(dir, 'missing.csv') }).listening;
    expect(await statusOf(url)).toMatchObject({ auth_enabled: true, mode: 'file', keys_loaded: 0, last_error: expect.stringContaining('ENOENT') });
    const res = await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer sk-convergence-some-key-000000' } });
    expect(res.status).toBe(503);
  });

  it('bad configuration exits 2 with one line naming the variable', async () => {
    const gw = start({ PORT: 'eighty', KEYS_FILE: 'x' });
    expect(await gw.exited).toBe(2);
    expect(gw.stderr.join('').trim()).toMatch(/^convergence-gateway: invalid configuration: PORT /);
  });
});
