import { afterEach, describe, expect, it } from 'vitest';
import { bearer, eventually, HEADER, SHEET_ID, startStack, type Stack } from '../support/stack.ts';

const KEY = 'sk-convergence-bbbbbbbb-0000-4000-8000-000000000001';
const NEW_KEY = 'sk-convergence-bbbbbbbb-0000-4000-8000-000000000002';
const ADMIN = 'admin-key-for-keystore-tests';

let stack: Stack | null = null;
afterEach(async () => {
  await stack?.close();
  stack = null;
});

async function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(stack!.url + path, { headers });
}
async function status(): Promise<Record<string, unknown>> {
  return (await get('/auth/status')).json() as Promise<Record<string, unknown>>;
}

describe('key cache', () => {
  it('reads the sheet once per TTL however many requests come, bad keys included', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']] });
    expect(stack.sheets.count('values.get')).toBe(1);
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => get('/v1/models', bearer(i % 2 ? KEY : `sk-convergence-not-a-real-key-${i}`))),
    );
    expect(answers.map((r) => r.status).sort()).toEqual([...Array(30).fill(200), ...Array(30).fill(401)]);
    expect(stack.sheets.count('values.get')).toBe(1);
  });

  it('reloads on a timer while idle, so a revoked key stops within TTL plus one load', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']], env: { API_KEY_CACHE_DURATION: '1' } });
    expect((await get('/v1/models', bearer(KEY))).status).toBe(200);
    stack.sheets.setTab(SHEET_ID, 'API_Keys', [HEADER, [KEY, 'Acme', '', '', false, '']]);
    const before = stack.sheets.count('values.get');
    // No requests meanwhile: the reload must come from the timer.
    await eventually(() => stack!.sheets.count('values.get') > before, 'a timed reload', 4_000);
    await eventually(async () => (await status()).keys_loaded === 1 && stack!.sheets.count('values.get') > before, 'reload done');
    expect((await get('/v1/models', bearer(KEY))).status).toBe(401);
  });

  it('/admin/reload-keys picks up a new key at once', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']], env: { ADMIN_API_KEY: ADMIN } });
    expect((await get('/v1/models', bearer(NEW_KEY))).status).toBe(401);
    stack.sheets.setTab(SHEET_ID, 'API_Keys', [HEADER, [KEY, 'Acme', '', '', true, ''], [NEW_KEY, 'Beta', '', '', true, '']]);
    const reload = await fetch(`${stack.url}/admin/reload-keys`, { method: 'POST', headers: bearer(ADMIN) });
    expect(await reload.json()).toMatchObject({ keys_loaded: 2, rows_rejected: 0 });
    const res = await get('/v1/models', bearer(NEW_KEY));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-client-name')).toBe('Beta');
  });

  it('admin endpoints are off without ADMIN_API_KEY', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']] });
    const res = await get('/admin/reload-keys', bearer(KEY));
    expect(res.status).toBe(403);
    expect((await res.json()).error.code).toBe('admin_disabled');
  });
});

describe('outages', () => {
  it('keeps serving the last good keys when Google fails, says so, and recovers', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']], env: { ADMIN_API_KEY: ADMIN } });
    stack.sheets.fail(503);
    const reload = await fetch(`${stack.url}/admin/reload-keys`, { headers: bearer(ADMIN) });
    expect(reload.status).toBe(503);
    expect((await reload.json()).error.code).toBe('key_store_unavailable');
    expect(await status()).toMatchObject({ auth_enabled: true, stale: true, keys_loaded: 1, last_error: 'sheets_unavailable: 503' });
    expect((await get('/v1/models', bearer(KEY))).status).toBe(200);
    expect((await get('/v1/models', bearer(NEW_KEY))).status).toBe(401);

    stack.sheets.clearFaults();
    await fetch(`${stack.url}/admin/reload-keys`, { headers: bearer(ADMIN) });
    expect(await status()).toMatchObject({ stale: false, last_error: null });
  });

  it('a sheet not shared with the account stays closed (503), then opens to keys once shared', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']], shared: false });
    expect(await status()).toMatchObject({ auth_enabled: true, mode: 'google_sheets', keys_loaded: 0, last_error: 'sheet_not_shared' });
    const denied = await get('/v1/models', bearer(KEY));
    expect(denied.status).toBe(503);
    expect((await denied.json()).error.code).toBe('key_store_unavailable');
    expect((await get('/v1/models')).status).toBe(401);
    expect(stack.vllm.requests).toHaveLength(0);

    stack.sheets.share(SHEET_ID, (await import('../support/stack.ts')).serviceAccount().email);
    // Retried with backoff (about 1 s, then 2 s), not once per request.
    await eventually(async () => (await get('/v1/models', bearer(KEY))).status === 200, 'retry after sharing', 6_000);
    expect(stack.sheets.count('values.get')).toBeLessThanOrEqual(4);
  });

  it('a broken header or a missing tab is an error on /auth/status, never an open door', async () => {
    stack = await startStack({ rows: [], noWait: false });
    stack.sheets.setTab(SHEET_ID, 'API_Keys', [['key', 'client_name'], [KEY, 'Acme']]);
    await stack.gateway.auth.store!.reload().catch(() => undefined);
    expect(await status()).toMatchObject({ stale: true, last_error: expect.stringContaining('no api_key') });
    await stack.close();

    stack = await startStack({ rows: [], env: { GOOGLE_SHEET_NAME: 'Keys2' } });
    expect(await status()).toMatchObject({ keys_loaded: 0, last_error: 'sheet_tab_missing' });
    expect((await get('/v1/models', bearer(KEY))).status).toBe(503);
  });

  it('the public status names no sheet id, URL or path in any failure; the log has the detail', async () => {
    const { createServer } = await import('node:net');
    // A port that refuses connections: Google unreachable.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const deadPort = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const cases: Array<[string, () => Promise<Stack>]> = [
      ['unreachable', () => startStack({ rows: [[KEY, 'Acme', '', '', true, '']], env: { SHEETS_API_URL: `http://127.0.0.1:${deadPort}/` } })],
      ['not shared', () => startStack({ rows: [[KEY, 'Acme', '', '', true, '']], shared: false })],
      ['no such sheet', () => startStack({ rows: [[KEY, 'Acme', '', '', true, '']], env: { GOOGLE_SHEET_ID: 'no-such-sheet-id-1234' } })],
      ['5xx', async () => {
        const s = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']], noWait: true });
        s.sheets.fail(500);
        await s.gateway.auth.store!.reload().catch(() => undefined);
        return s;
      }],
    ];
    const seen: string[] = [];
    for (const [what, start] of cases) {
      stack = await start();
      await stack.gateway.ready;
      const body = JSON.stringify(await status());
      const lastError = String((await status()).last_error);
      seen.push(lastError);
      expect(lastError, what).not.toBe('null');
      for (const secret of [SHEET_ID, 'no-such-sheet-id-1234', '127.0.0.1', 'http', stack.dir, 'googleapis']) {
        expect(body, `${what}: ${secret}`).not.toContain(secret);
      }
      expect(stack.logs.join('\n'), what).toMatch(/key load failed/);
      await stack.close();
      stack = null;
    }
    expect(seen).toEqual(['sheets_unreachable: ECONNREFUSED', 'sheet_not_shared', 'sheet_not_found', 'sheets_unavailable: 500']);
  });
});

