import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeVllm, type FakeVllm } from '../../scripts/fake-vllm.ts';
import { spawnGateway, type GatewayProcess } from '../support/process.ts';
import { eventually } from '../support/stack.ts';

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
    expect(await statusOf(url)).toMatchObject({ auth_enabled: true, mode: 'file', keys_loaded: 0, last_error: 'key_file_unreadable: ENOENT' });
    const res = await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer sk-convergence-some-key-000000' } });
    expect(res.status).toBe(503);
  });

  it('shuts down on SIGTERM even when its log reader has gone away (a closed pipe)', async () => {
    writeFileSync(join(dir, 'k.csv'), 'api_key,client_name,created_at,expires_at,is_active,rate_limit\nsk-convergence-pipe-test-0000,a,,,TRUE,\n');
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = probe.address() as { port: number };
        probe.close(() => resolve(p));
      });
    });
    // A real pipe whose reader leaves after three lines, as `npm start | head -3` does.
    const marker = `cg-pipe-${randomUUID()}`;
    spawn('bash', ['-c', `"${process.execPath}" --import tsx server/main.ts ${marker} 2>&1 | head -3 > /dev/null`], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { PATH: process.env.PATH ?? '', HOME: dir, METADATA_SERVER_DETECTION: 'none', KEYS_FILE: join(dir, 'k.csv'), PORT: String(port), HOST: '127.0.0.1', UPSTREAM_URL: vllm.url },
      stdio: 'ignore',
    });
    await eventually(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => null))?.status === 200, 'gateway up');
    for (let i = 0; i < 30; i += 1) await fetch(`http://127.0.0.1:${port}/v1/models`); // log lines into the closed pipe
    // The node process itself, not the bash that started it (its command line holds the marker too).
    const candidates = execFileSync('pgrep', ['-f', marker]).toString().trim().split('\n');
    const pid = Number(candidates.find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'node'));
    expect(pid).toBeGreaterThan(0);
    const alive = (): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    process.kill(pid, 'SIGTERM');
    try {
      await eventually(() => !alive(), 'the gateway process exits', 5_000);
    } finally {
      if (alive()) process.kill(pid, 'SIGKILL');
    }
  });

  it('bad configuration exits 2 with one line naming the variable', async () => {
    const gw = start({ PORT: 'eighty', KEYS_FILE: 'x' });
    expect(await gw.exited).toBe(2);
    expect(gw.stderr.join('').trim()).toMatch(/^convergence-gateway: invalid configuration: PORT /);
  });
});
