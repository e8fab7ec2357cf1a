import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../server/keys/keyid.ts';
import { KEY_SNAPSHOT_FILE } from '../../server/keys/snapshot.ts';
import type { Cell, FakeSheets } from '../support/fake-sheets.ts';
import { bearer, eventually, SHEET_ID, serviceAccount, startSheets, startStack, type Stack, type StackOptions } from '../support/stack.ts';

const KEY = 'sk-convergence-cccccccc-0000-4000-8000-0000000000c1';
const HASHED = 'sk-convergence-cccccccc-0000-4000-8000-0000000000c2';
const UNKNOWN = 'sk-convergence-cccccccc-0000-4000-8000-0000000000ff';
const HEADER: Cell[] = ['api_key', 'api_key_sha256', 'client_name', 'created_at', 'expires_at', 'is_active', 'rate_limit', 'allowed_models', 'token_quota'];

const stacks: Stack[] = [];
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const s of stacks.splice(0)) await s.close();
  for (const c of cleanup.splice(0)) await c();
});

async function sheet(): Promise<FakeSheets> {
  const sheets = await startSheets([
    HEADER,
    [KEY, '', 'Acme', '', '', true, 7, 'demo-model', 5000],
    ['', sha256Hex(HASHED), 'Beta', '', '', true, '', '', ''],
  ], { timeZone: 'Europe/Paris' });
  cleanup.push(() => sheets.stop());
  return sheets;
}

function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cg-snapshot-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'state');
}

/** A loopback port nothing listens on: connections are refused (Google unreachable). */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return `http://127.0.0.1:${port}/`;
}

async function gateway(opts: StackOptions): Promise<Stack> {
  const s = await startStack(opts);
  stacks.push(s);
  return s;
}

async function status(s: Stack): Promise<Record<string, any>> {
  return (await fetch(`${s.url}/auth/status`)).json() as Promise<Record<string, any>>;
}

function models(s: Stack, key: string): Promise<Response> {
  return fetch(`${s.url}/v1/models`, { headers: bearer(key) });
}

/** Loads the keys once from a reachable sheet, so STATE_DIR holds a snapshot; returns the snapshot's time. */
async function takeSnapshot(sheets: FakeSheets, dir: string): Promise<string> {
  const first = await gateway({ sheets, stateDir: dir });
  await eventually(() => {
    try {
      return statSync(join(dir, KEY_SNAPSHOT_FILE)).size > 0;
    } catch {
      return false;
    }
  }, 'snapshot written');
  const at = (await status(first)).last_refresh_at as string;
  await first.close();
  stacks.splice(stacks.indexOf(first), 1);
  return at;
}

describe('key-set snapshot in STATE_DIR', () => {
  it('holds hashes and policies only, in a 0600 file', async () => {
    const sheets = await sheet();
    const dir = stateDir();
    await takeSnapshot(sheets, dir);
    const file = join(dir, KEY_SNAPSHOT_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(KEY);
    expect(text).not.toContain(HASHED);
    expect(text).not.toContain('sk-convergence');
    expect(text).toContain(sha256Hex(KEY));
    expect(text).toContain(sha256Hex(HASHED));
  });

  it('Google unreachable at start: the snapshot is served (stale, snapshot_at), known keys work with their policies, unknown keys get 401', async () => {
    const sheets = await sheet();
    const dir = stateDir();
    const at = await takeSnapshot(sheets, dir);
    const s = await gateway({ sheets, stateDir: dir, env: { SHEETS_API_URL: await deadUrl() } });
    expect(await status(s)).toMatchObject({ keys_loaded: 2, stale: true, snapshot_at: at, last_refresh_at: at });
    const ok = await models(s, KEY);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-ratelimit-limit')).toBe('7');
    expect((await models(s, HASHED)).status).toBe(200);
    const unknown = await models(s, UNKNOWN);
    expect(unknown.status).toBe(401);
    expect((await unknown.json()).error.code).toBe('invalid_api_key');
    const me = (await (await fetch(`${s.url}/auth/key`, { headers: bearer(KEY) })).json()) as Record<string, any>;
    expect(me).toMatchObject({ client_name: 'Acme', allowed_models: ['demo-model'], quota: { period: 'month', tokens: { used: 0, limit: 5000 } } });
  });

  it('a 5xx from Google at start also serves the snapshot; it stops once a load succeeds', async () => {
    const sheets = await sheet();
    const dir = stateDir();
    await takeSnapshot(sheets, dir);
    sheets.fail(503, 1);
    const s = await gateway({ sheets, stateDir: dir, env: { API_KEY_CACHE_DURATION: '1' } });
    expect((await status(s)).snapshot_at).not.toBeNull();
    expect((await models(s, KEY)).status).toBe(200);
    await eventually(async () => (await status(s)).snapshot_at === null, 'a successful load replaces the snapshot', 8_000);
    expect(await status(s)).toMatchObject({ stale: false, keys_loaded: 2 });
  });

  it('a sheet that answers "not shared" is authoritative: the snapshot is not used', async () => {
    const sheets = await sheet();
    const dir = stateDir();
    await takeSnapshot(sheets, dir);
    sheets.unshare(SHEET_ID, serviceAccount().email);
    const s = await gateway({ sheets, stateDir: dir });
    expect(await status(s)).toMatchObject({ keys_loaded: 0, snapshot_at: null });
    const res = await models(s, KEY);
    expect(res.status).toBe(503);
    expect((await res.json()).error.code).toBe('key_store_unavailable');
  });

  it('a snapshot older than SNAPSHOT_MAX_AGE, or a corrupt one, is not served', async () => {
    const sheets = await sheet();
    const dir = stateDir();
    await takeSnapshot(sheets, dir);
    const dead = await deadUrl();
    const old = await gateway({ sheets, stateDir: dir, now: () => Date.now() + 120_000, env: { SHEETS_API_URL: dead, SNAPSHOT_MAX_AGE: '60' } });
    expect((await models(old, KEY)).status).toBe(503);
    expect(old.logs.join('\n')).toContain('older than SNAPSHOT_MAX_AGE');

    const file = join(dir, KEY_SNAPSHOT_FILE);
    writeFileSync(file, readFileSync(file, 'utf8').slice(0, 200)); // torn
    const torn = await gateway({ sheets, stateDir: dir, env: { SHEETS_API_URL: dead } });
    expect((await models(torn, KEY)).status).toBe(503);
    expect(torn.logs.join('\n')).toContain('state file is corrupt or torn');
  });
});
