import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeVllm, type FakeVllm } from '../../scripts/fake-vllm.ts';
import { loadConfig } from '../../server/config.ts';
import { startGateway, type Gateway } from '../../server/gateway.ts';
import { parseExpiry } from '../../server/keys/dates.ts';
import { createLogger } from '../../server/log.ts';
import { bearer, SHEET_ID, startStack, type Stack } from '../support/stack.ts';
import { inProcess, keysIn, runKeys, tempDir } from './run.ts';

const OLD = 'sk-convergence-ffffffff-0000-4000-8000-000000000001';
const ADMIN = 'admin-key-for-cli-tests-0123456789';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function models(url: string, key: string): Promise<{ status: number; code?: string; client?: string | null }> {
  const res = await fetch(`${url}/v1/models`, { headers: bearer(key) });
  const body = (await res.json()) as { error?: { code: string } };
  return { status: res.status, code: body.error?.code, client: res.headers.get('x-client-name') };
}

/** Runs the `curl` the CLI printed, as fetch: proves the printed command reloads this gateway. */
async function runPrintedReload(stdout: string): Promise<Response> {
  const line = stdout.split('\n').find((l) => l.trim().startsWith('curl -X POST'))!;
  const url = /(http:\/\/\S+\/admin\/reload-keys)/.exec(line)![1]!;
  expect(line).toContain('-H "Authorization: Bearer $ADMIN_API_KEY"');
  return fetch(url, { method: 'POST', headers: bearer(ADMIN) });
}

describe('through the real gateway (Google Sheets)', () => {
  it('rotate: old and new key both work until the grace period ends, then the old one is expired', async () => {
    const stack: Stack = await startStack({ rows: [[OLD, 'Acme', '', '', true, 3]], env: { ADMIN_API_KEY: ADMIN } });
    cleanups.push(() => stack.close());
    const port = new URL(stack.url).port;
    const env = { GOOGLE_SHEET_ID: SHEET_ID, GOOGLE_CREDENTIALS_PATH: stack.credentialsPath, SHEETS_API_URL: stack.sheets.url, HOST: '127.0.0.1', PORT: port, ADMIN_API_KEY: ADMIN };

    const [plain, hashed] = await Promise.all([
      runKeys(['add', '--name', 'Beta', '--quiet'], env),
      runKeys(['add', '--name', 'Gamma', '--hashed', '--quiet'], env),
    ]);
    const started = Date.now();
    const rotated = await runKeys(['rotate', '--name', 'Acme', '--grace', '3s'], env);
    const finished = Date.now();
    expect(rotated).toMatchObject({ code: 0, stderr: '' });
    const [fresh] = keysIn(rotated.stdout);

    // Until the gateway reloads, it does not know the new keys; the printed curl makes it.
    expect((await models(stack.url, fresh!)).status).toBe(401);
    const reload = await runPrintedReload(rotated.stdout);
    expect(await reload.json()).toMatchObject({ keys_loaded: 4, rows_rejected: 0 });

    const oldRow = stack.sheets.tab(SHEET_ID, 'API_Keys')!.find((r) => r[0] === OLD)!;
    const expiry = parseExpiry(oldRow[3], 'UTC');
    if (!expiry.ok || expiry.expiresAt === null) throw new Error('old key has no expiry');
    expect(expiry.expiresAt).toBeGreaterThanOrEqual(started + 3000);
    expect(expiry.expiresAt).toBeLessThanOrEqual(finished + 4000);

    expect(await models(stack.url, OLD)).toMatchObject({ status: 200, client: 'Acme' });
    expect(await models(stack.url, fresh!)).toMatchObject({ status: 200, client: 'Acme' });
    expect(await models(stack.url, plain.stdout.trim())).toMatchObject({ status: 200, client: 'Beta' });
    expect(await models(stack.url, hashed.stdout.trim())).toMatchObject({ status: 200, client: 'Gamma' });
    expect(JSON.stringify(stack.sheets.tab(SHEET_ID, 'API_Keys'))).not.toContain(hashed.stdout.trim());

    await new Promise((r) => setTimeout(r, Math.max(0, expiry.expiresAt! - Date.now() + 50)));
    expect(await models(stack.url, OLD)).toMatchObject({ status: 401, code: 'expired_api_key' });
    expect(await models(stack.url, fresh!)).toMatchObject({ status: 200, client: 'Acme' });

    // The new key inherited the old one's limit of 3 requests per window.
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await models(stack.url, fresh!)).status);
    expect(statuses).toContain(429);
  });
});

describe('through the real gateway (KEYS_FILE)', () => {
  it('keys added plain, added hashed, and hashed in place all open the gateway; revoked ones do not', async () => {
    const tmp = tempDir();
    cleanups.push(() => tmp.remove());
    const keysFile = join(tmp.dir, 'keys.csv');
    const env = { KEYS_FILE: keysFile };
    expect((await inProcess(['init'], env)).code).toBe(0);
    const plain = (await runKeys(['add', '--name', 'Plain', '--quiet'], env)).stdout.trim();
    const hashed = (await runKeys(['add', '--name', 'Hashed', '--hashed', '--quiet'], env)).stdout.trim();
    const revoked = (await runKeys(['add', '--name', 'Revoked', '--quiet'], env)).stdout.trim();
    expect((await inProcess(['revoke', '--name', 'Revoked'], env)).code).toBe(0);

    const vllm: FakeVllm = await startFakeVllm();
    cleanups.push(() => vllm.close());
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', UPSTREAM_URL: vllm.url, KEYS_FILE: keysFile, ADMIN_API_KEY: ADMIN, LOG_LEVEL: 'silent' });
    const gateway: Gateway = await startGateway(config, createLogger('silent'));
    cleanups.push(() => gateway.close());
    await gateway.ready;

    expect(await models(gateway.url, plain)).toMatchObject({ status: 200, client: 'Plain' });
    expect(await models(gateway.url, hashed)).toMatchObject({ status: 200, client: 'Hashed' });
    expect(await models(gateway.url, revoked)).toMatchObject({ status: 401, code: 'invalid_api_key' });

    const hashedAll = await runKeys(['hash-existing'], env);
    expect(hashedAll.code).toBe(0);
    const reload = await fetch(`${gateway.url}/admin/reload-keys`, { method: 'POST', headers: bearer(ADMIN) });
    expect(await reload.json()).toMatchObject({ keys_loaded: 3, rows_rejected: 0 });
    expect(await models(gateway.url, plain)).toMatchObject({ status: 200, client: 'Plain' });
    expect(await models(gateway.url, revoked)).toMatchObject({ status: 401, code: 'invalid_api_key' });
  });
});
