import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyId } from '../../server/keys/keyid.ts';
import { bearer, startStack, type Stack } from '../support/stack.ts';

const ACTIVE = 'sk-convergence-aaaaaaaa-0000-4000-8000-000000000001';
const INACTIVE = 'sk-convergence-aaaaaaaa-0000-4000-8000-000000000002';
const EXPIRED = 'sk-convergence-aaaaaaaa-0000-4000-8000-000000000003';
const CAFE = 'sk-convergence-aaaaaaaa-0000-4000-8000-000000000004';
const EVIL = 'sk-convergence-aaaaaaaa-0000-4000-8000-000000000005';
const BAD_LIMIT = 'sk-convergence-aaaaaaaa-0000-4000-8000-000000000006';
const TOKYO_TODAY = 'sk-convergence-aaaaaaaa-0000-4000-8000-000000000007';
const UNKNOWN = 'sk-convergence-ffffffff-0000-4000-8000-00000000ffff';
const ADMIN = 'admin-key-0123456789abcdef';
const ALL_KEYS = [ACTIVE, INACTIVE, EXPIRED, CAFE, EVIL, BAD_LIMIT, TOKYO_TODAY, UNKNOWN, ADMIN];

let stack: Stack;

async function call(path: string, headers: Record<string, string> = {}, init: RequestInit = {}): Promise<Response> {
  return fetch(stack.url + path, { ...init, headers: { ...headers, ...(init.headers as Record<string, string>) } });
}

beforeAll(async () => {
  stack = await startStack({
    timeZone: 'Asia/Tokyo',
    rows: [
      [ACTIVE, 'Acme', 46000, '', true, 100],
      [INACTIVE, 'Gone Inc', '', '', false, ''],
      [EXPIRED, 'Old Co', '', '2020-01-01', 'TRUE', ''],
      [CAFE, 'Café', '', '', 'yes', ''],
      [EVIL, 'evil\r\nSet-Cookie: pwned=1', '', '', true, ''],
      [BAD_LIMIT, 'Broken', '', '', true, 'fast'],
      // A date alone in the sheet's zone: valid through today in Tokyo, whatever today is.
      [TOKYO_TODAY, 'Tokyo', '', new Date(Date.now() + 9 * 3600_000).toISOString().slice(0, 10), true, ''],
    ],
    env: { ADMIN_API_KEY: ADMIN, UPSTREAM_API_KEY: 'upstream-secret' },
  });
});

afterAll(async () => {
  await stack.close();
  // Keys never reach the log, whatever happened above; key ids do.
  const text = stack.logs.join('');
  for (const key of ALL_KEYS) expect(text).not.toContain(key);
  expect(text).toContain(keyId(ACTIVE));
});

describe('authentication', () => {
  it('lets a valid key through in every header form and tells the client who it is', async () => {
    for (const headers of [bearer(ACTIVE), { authorization: `bearer ${ACTIVE}` }, { authorization: `ApiKey ${ACTIVE}` }, { authorization: `APIKEY ${ACTIVE}` }, { 'x-api-key': ACTIVE }]) {
      const res = await call('/v1/models', headers);
      expect(res.status, JSON.stringify(headers)).toBe(200);
      expect(res.headers.get('x-client-name')).toBe('Acme');
      expect((await res.json()).data[0].id).toBe('demo-model');
    }
  });

  it('answers 401 missing_api_key with WWW-Authenticate when no key is sent', async () => {
    for (const headers of [{}, { authorization: 'Basic Zm9vOmJhcg==' }, { authorization: 'Bearer   ' }] as Record<string, string>[]) {
      const res = await call('/v1/models', headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(await res.json()).toEqual({ error: { message: expect.any(String), type: 'invalid_request_error', code: 'missing_api_key', param: null } });
    }
  });

  it.each([
    ['unknown', UNKNOWN, 'invalid_api_key'],
    ['inactive', INACTIVE, 'invalid_api_key'],
    ['rejected row', BAD_LIMIT, 'invalid_api_key'],
    ['expired', EXPIRED, 'expired_api_key'],
  ])('answers 401 for an %s key', async (_what, key, code) => {
    const res = await call('/v1/models', bearer(key));
    expect(res.status).toBe(401);
    const body = await res.json();
    expect(body.error.code).toBe(code);
    expect(JSON.stringify(body)).not.toContain(key);
    expect(res.headers.get('x-client-name')).toBeNull();
  });

  it('reads an offset-less date alone in the spreadsheet time zone, valid through that day', async () => {
    expect((await call('/v1/models', bearer(TOKYO_TODAY))).status).toBe(200);
  });

  it('percent-encodes client names so they cannot break or inject headers', async () => {
    const cafe = await call('/v1/models', bearer(CAFE));
    expect(cafe.headers.get('x-client-name')).toBe('Caf%C3%A9');
    const evil = await call('/v1/models', bearer(EVIL));
    expect(evil.status).toBe(200);
    expect(evil.headers.get('x-client-name')).toBe('evil%0D%0ASet-Cookie: pwned=1');
    expect(evil.headers.get('set-cookie')).toBeNull();
  });

  it('never passes client credentials upstream; sends UPSTREAM_API_KEY and X-Forwarded-*', async () => {
    // node:http, because fetch refuses to send a Connection header.
    await new Promise<void>((resolve, reject) => {
      const req = request(stack.url + '/v1/models?x=1', {
        headers: { ...bearer(ACTIVE), 'x-api-key': ACTIVE, connection: 'keep-alive, x-hop', 'x-hop': '1', 'x-custom': 'kept' },
      }, (res) => res.resume().on('end', resolve));
      req.on('error', reject).end();
    });
    const seen = stack.vllm.requests.at(-1)!;
    expect(seen.url).toBe('/v1/models?x=1');
    expect(seen.headers.authorization).toBe('Bearer upstream-secret');
    expect(seen.headers['x-api-key']).toBeUndefined();
    expect(seen.headers['x-hop']).toBeUndefined();
    expect(seen.headers['x-custom']).toBe('kept');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(JSON.stringify(seen.headers)).not.toContain(ACTIVE);
  });
});

describe('gateway endpoints', () => {
  it('serves /health and /auth/status without a key, never showing keys or client names', async () => {
    expect(await (await call('/health')).json()).toEqual({ status: 'ok' });
    const res = await call('/auth/status', { authorization: `Bearer ${UNKNOWN}` });
    const status = await res.json();
    expect(status).toMatchObject({
      auth_enabled: true, mode: 'google_sheets', reason: null, keys_loaded: 6, rows_rejected: 1,
      cache_ttl_seconds: 300, stale: false, last_error: null,
    });
    expect(Date.parse(status.last_refresh_at)).toBeGreaterThan(Date.now() - 60_000);
    const text = JSON.stringify(status);
    for (const word of [...ALL_KEYS, 'Acme', 'Caf']) expect(text).not.toContain(word);
  });

  it('guards /admin with ADMIN_API_KEY', async () => {
    expect((await call('/admin/reload-keys', bearer(ACTIVE))).status).toBe(403);
    expect((await (await call('/admin/reload-keys', bearer(ACTIVE))).json()).error.code).toBe('invalid_admin_key');
    expect((await (await call('/admin/other')).json()).error.code).toBe('invalid_admin_key');
    const ok = await call('/admin/reload-keys', { 'x-api-key': ADMIN }, { method: 'POST' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ keys_loaded: 6, rows_rejected: 1 });
    expect((await call('/admin/unknown', bearer(ADMIN))).status).toBe(404);
    expect(stack.vllm.requests.some((r) => r.url.startsWith('/admin'))).toBe(false);
  });

  it('logs every request with key id and client, and auth decisions at debug', async () => {
    await call('/v1/models', bearer(ACTIVE));
    const lines = stack.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.some((l) => l.msg === 'request' && l.key_id === keyId(ACTIVE) && l.client === 'Acme' && l.status === 200)).toBe(true);
    expect(lines.some((l) => l.msg === 'request' && l.key_id === keyId(UNKNOWN) && l.status === 401)).toBe(true);
    expect(lines.some((l) => l.msg === 'auth: denied' && l.decision === 'expired_api_key')).toBe(true);
    expect(lines.some((l) => l.msg === 'key cache hit')).toBe(true);
    expect(lines.some((l) => String(l.msg).startsWith('sheets query'))).toBe(true);
    expect(lines.some((l) => l.msg === 'key row rejected' && l.row === 7 && String(l.reason).includes('rate_limit'))).toBe(true);
  });
});
