import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { keyId } from '../../server/keys/keyid.ts';
import type { Cell, FakeSheets } from '../support/fake-sheets.ts';
import { bearer, SHEET_ID, serviceAccount, startSheets, startStack, type Stack } from '../support/stack.ts';

const KEY = 'sk-convergence-dddddddd-0000-4000-8000-0000000000d1';
const PLAIN = 'sk-convergence-dddddddd-0000-4000-8000-0000000000d2';
const HEADER: Cell[] = ['api_key', 'client_name', 'created_at', 'expires_at', 'is_active', 'rate_limit', 'tpm_limit', 'allowed_models', 'token_quota', 'request_quota', 'quota_period'];

let stack: Stack | null = null;
let sheets: FakeSheets | null = null;
afterEach(async () => {
  await stack?.close();
  await sheets?.stop();
  stack = null;
  sheets = null;
});

async function start(rows: Cell[][]): Promise<Stack> {
  sheets = await startSheets([HEADER, ...rows]);
  stack = await startStack({ sheets });
  return stack;
}

describe('GET /auth/key', () => {
  it('tells a client its own standing through the OpenAI SDK, with quota.tokens.used equal to what the upstream reported', async () => {
    const s = await start([[KEY, 'Acme', '', '2030-01-31', true, 5, 100_000, 'demo-model, other-model', 50_000, 1_000, 'week']]);
    // The example of docs/clients.md, as a client writes it.
    const client = new OpenAI({ apiKey: KEY, baseURL: `${s.url}/v1`, maxRetries: 0 });
    const answer = await client.chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'how many tokens is this' }], max_tokens: 12 });
    const stream = await client.chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'and this' }], max_tokens: 5, stream: true, stream_options: { include_usage: true } });
    let streamed = 0;
    for await (const chunk of stream) if (chunk.usage) streamed = chunk.usage.total_tokens;
    const reported = answer.usage!.total_tokens + streamed;
    expect(reported).toBeGreaterThan(17);

    const me = await client.get<Record<string, any>>(new URL('/auth/key', client.baseURL).href);
    expect(me).toEqual({
      client_name: 'Acme',
      key_id: keyId(KEY),
      expires_at: '2030-02-01T00:00:00.000Z',
      rate_limit: { limit: 5, remaining: 3, reset_seconds: expect.any(Number) },
      tpm_limit: { limit: 100_000, remaining: 100_000 - reported, reset_seconds: expect.any(Number) },
      quota: { period: 'week', period_end: expect.any(String), tokens: { used: reported, limit: 50_000 }, requests: { used: 2, limit: 1_000 } },
      allowed_models: ['demo-model', 'other-model'],
    });
    expect(new Date(me.quota.period_end).getUTCDay()).toBe(1); // the next Monday, 00:00 in the sheet's zone
    expect(JSON.stringify(me)).not.toContain(KEY);
    // Asking is never counted, never rate-limited, never proxied.
    const again = await client.get<Record<string, any>>(new URL('/auth/key', client.baseURL).href);
    expect(again.rate_limit.remaining).toBe(3);
    expect(again.quota.requests.used).toBe(2);
    expect(s.vllm.requests.some((r) => r.url.includes('auth'))).toBe(false);
  });

  it('shows null for what the key does not have, and refuses missing or unknown keys', async () => {
    const s = await start([[PLAIN, 'Plain', '', '', true, '', '', '', '', '', '']]);
    const res = await fetch(`${s.url}/auth/key`, { headers: bearer(PLAIN) });
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-ratelimit-limit')).toBeNull();
    expect(await res.json()).toEqual({
      client_name: 'Plain',
      key_id: keyId(PLAIN),
      expires_at: null,
      rate_limit: { limit: 60, remaining: 60, reset_seconds: 0 },
      tpm_limit: null,
      quota: null,
      allowed_models: null,
    });
    expect((await fetch(`${s.url}/auth/key`)).status).toBe(401);
    const unknown = await fetch(`${s.url}/auth/key`, { headers: bearer(`${PLAIN}x`) });
    expect(unknown.status).toBe(401);
    expect((await unknown.json()).error.code).toBe('invalid_api_key');
    expect((await fetch(`${s.url}/auth/key`, { method: 'POST', headers: bearer(PLAIN) })).status).toBe(404);
  });
});
