import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { keyId } from '../../server/keys/keyid.ts';
import type { Cell, FakeSheets } from '../support/fake-sheets.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { bearer, eventually, SHEET_ID, serviceAccount, startSheets, startStack, type Stack, type StackOptions } from '../support/stack.ts';

const A1 = 'sk-convergence-aaaaaaaa-0000-4000-8000-0000000000a1';
const A2 = 'sk-convergence-aaaaaaaa-0000-4000-8000-0000000000a2';
const B = 'sk-convergence-bbbbbbbb-0000-4000-8000-0000000000b1';
const QUOTA_HEADER: Cell[] = ['api_key', 'client_name', 'created_at', 'expires_at', 'is_active', 'rate_limit', 'token_quota', 'request_quota', 'quota_period'];

const stacks: Stack[] = [];
const folders: string[] = [];
const sheetsList: FakeSheets[] = [];
afterEach(async () => {
  for (const s of stacks.splice(0)) await s.close();
  for (const s of sheetsList.splice(0)) await s.stop();
  for (const d of folders.splice(0)) rmSync(d, { recursive: true, force: true });
});

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

async function sheetWith(rows: Cell[][], timeZone = 'UTC'): Promise<FakeSheets> {
  const sheets = await startSheets([QUOTA_HEADER, ...rows], { timeZone });
  sheetsList.push(sheets);
  return sheets;
}

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cg-quota-'));
  folders.push(dir);
  return dir;
}

async function gateway(opts: StackOptions): Promise<Stack> {
  const s = await startStack(opts);
  stacks.push(s);
  return s;
}

/** A chat completion spending 1 prompt token and `completion` completion tokens (the stand-in's rule). */
function chat(s: Stack, key: string, completion = 200): Promise<Response> {
  return fetch(`${s.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...bearer(key), 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: completion }),
  });
}

async function standing(s: Stack, key: string): Promise<Record<string, any>> {
  const res = await fetch(`${s.url}/auth/key`, { headers: bearer(key) });
  expect(res.status).toBe(200);
  return res.json() as Promise<Record<string, any>>;
}

describe('token quota shared by a client', () => {
  it('answers 429 quota_exceeded once two keys of one client together spent it; another client is untouched', async () => {
    const sheets = await sheetWith([
      [A1, 'Acme', '', '', true, '', 1000, '', ''],
      [A2, ' Acme ', '', '', true, '', 1000, '', 'month'],
      [B, 'Beta', '', '', true, '', 1000, '', ''],
    ]);
    const s = await gateway({ sheets, env: { TOKEN_RESERVE_DEFAULT: '1' } });
    let spent = 0;
    // Each request reserves its max_tokens (99) at admission and spends 100: ten fit in 1,000.
    for (let i = 0; spent < 1000; i += 1) {
      const res = await chat(s, i % 2 ? A2 : A1, 99);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { usage: { total_tokens: number } };
      spent += body.usage.total_tokens;
      expect(Number(res.headers.get('x-quota-reset'))).toBeGreaterThan(0);
      expect(res.headers.get('x-quota-remaining-requests')).toBeNull();
    }
    for (const key of [A1, A2]) {
      const res = await chat(s, key);
      expect(res.status).toBe(429);
      expect((await res.json()).error.code).toBe('quota_exceeded');
      expect(res.headers.get('x-quota-remaining-tokens')).toBe('0');
      const retry = Number(res.headers.get('retry-after'));
      const now = new Date();
      const monthEnd = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
      expect(Math.abs(retry - (monthEnd - Date.now()) / 1000)).toBeLessThan(5);
      expect(res.headers.get('x-quota-reset')).toBe(String(retry));
    }
    expect((await chat(s, B)).status).toBe(200);
    // The OpenAI SDK, with its default retries, gives up at once: a quota frees only when the period ends.
    let calls = 0;
    const counted: typeof fetch = (input, init) => {
      calls += 1;
      return fetch(input, init);
    };
    const sdk = new OpenAI({ apiKey: A1, baseURL: `${s.url}/v1`, fetch: counted });
    const err = await sdk.chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('quota_exceeded');
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).headers.get('x-should-retry')).toBe('false');
    expect(calls).toBe(1);
    const mine = await standing(s, A2);
    expect(mine.quota).toMatchObject({ period: 'month', tokens: { used: spent, limit: 1000 }, requests: null });
  });
});

describe('counts that hold', () => {
  it('a restart (STATE_DIR) and a second replica sharing the Usage tab but not Redis both keep the spent amount', async () => {
    const sheets = await sheetWith([[A1, 'Acme', '', '', true, '', 500, '', ''], [A2, 'Acme', '', '', true, '', 500, '', '']]);
    const state = join(folder(), 'state');
    const env = { TOKEN_RESERVE_DEFAULT: '1' };
    const first = await gateway({ sheets, stateDir: state, env });
    expect((await chat(first, A1)).status).toBe(200);
    expect((await chat(first, A2)).status).toBe(200);
    await first.close(); // flushes usage to the Usage tab and writes the counts to STATE_DIR
    stacks.splice(stacks.indexOf(first), 1);

    const restarted = await gateway({ sheets, stateDir: state, env });
    expect((await standing(restarted, A1)).quota.tokens).toEqual({ used: 402, limit: 500 });
    expect((await chat(restarted, A1, 50)).status).toBe(200); // 402 + 50 reserved fits: 453 spent
    const refused = await chat(restarted, A2);
    expect(refused.status).toBe(429);
    expect((await refused.json()).error.code).toBe('quota_exceeded');
    expect(await restarted.gateway.usage!.flush()).toBe(true);

    // A new replica: its own STATE_DIR (empty), no Redis, the same Usage tab.
    const replica = await gateway({ sheets, stateDir: join(folder(), 'state'), env });
    expect((await standing(replica, A2)).quota.tokens).toEqual({ used: 453, limit: 500 });
    expect((await chat(replica, A2)).status).toBe(429);
  });

  it('with Redis, replicas share one exact count, seeded once from the Usage tabs (each flush_id and key once, in the sheet\'s calendar)', async () => {
    // 12:00 in Berlin on 15 March: the month began at 2026-02-28T23:00Z.
    const now = Date.parse('2026-03-15T11:00:00Z');
    const sheets = await sheetWith([[A1, 'Acme', '', '', true, '', 10_000, 100, ''], [A2, 'Acme', '', '', true, '', 10_000, 100, '']], 'Europe/Berlin');
    const usageHeader = ['timestamp', 'key_id', 'client_name', 'requests', 'rate_limited', 'prompt_tokens', 'completion_tokens', 'instance', 'flush_id', 'period_start'];
    // Columns in another order than written, as a reader must accept.
    const reordered = [...usageHeader].reverse();
    const row = (r: Cell[]): Cell[] => reordered.map((h) => r[usageHeader.indexOf(h)]!);
    sheets.setTab(SHEET_ID, 'Usage', [reordered, ...[
      ['2026-03-15T10:59:00Z', keyId(A1), 'Acme', 2, 0, 10, 90, 'i1', 'f1', '2026-03-15T10:00:00Z'],
      ['2026-03-15T10:59:30Z', keyId(A1), 'Acme', 2, 0, 10, 90, 'i1', 'f1', '2026-03-15T10:00:00Z'], // a retried flush: once
      ['2026-03-15T10:59:00Z', keyId(A2), 'Acme', 1, 0, 20, 30, 'i1', 'f1', '2026-03-15T10:00:00Z'],
      ['2026-03-14T08:00:00Z', keyId(A2), 'Acme', 1, 1, 10, 20, 'old', '', ''], // round 1: no flush_id, counts as it is
      ['2026-03-01T00:10:00Z', keyId(A1), 'Acme', 1, 0, 3, 4, 'i2', 'f2', '2026-02-28T23:30:00Z'], // 00:30 on 1 March in Berlin
      ['2026-02-28T22:59:00Z', keyId(A1), 'Acme', 9, 0, 500, 500, 'i2', 'f3', '2026-02-28T22:00:00Z'], // February in Berlin
      ['2026-03-15T10:59:00Z', 'ffffffffffffffff', 'Beta', 5, 0, 500, 500, 'i1', 'f1', '2026-03-15T10:00:00Z'],
    ].map(row)]);
    sheets.setTab(SHEET_ID, 'Usage (daily)', [
      ['day', 'key_id', 'client_name', 'requests', 'rate_limited', 'prompt_tokens', 'completion_tokens'],
      ['2026-03-02', keyId(A1), 'Acme', 3, 0, 20, 20],
      ['2026-02-27', keyId(A1), 'Acme', 50, 0, 900, 900],
    ]);
    const onRecord = { tokens: 100 + 50 + 30 + 7 + 40, requests: 2 + 1 + 1 + 1 + 3 };
    const env = { REDIS_URL: redis.url, TOKEN_RESERVE_DEFAULT: '1' };
    const one = await gateway({ sheets, now: () => now, env });
    const two = await gateway({ sheets, now: () => now, env, stateDir: join(folder(), 'state') });
    expect((await standing(one, A1)).quota).toEqual({
      period: 'month',
      period_end: '2026-03-31T22:00:00.000Z',
      tokens: { used: onRecord.tokens, limit: 10_000 },
      requests: { used: onRecord.requests, limit: 100 },
    });
    const res = await chat(one, A1, 100);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-quota-remaining-requests')).toBe(String(100 - onRecord.requests - 1));
    // The other replica sees the same count at once, without a flush, and seeds nothing again.
    const expected = { tokens: { used: onRecord.tokens + 101, limit: 10_000 }, requests: { used: onRecord.requests + 1, limit: 100 } };
    expect((await standing(two, A2)).quota).toMatchObject(expected);
    expect((await chat(two, A2, 10)).status).toBe(200);
    expect((await standing(one, A2)).quota.tokens.used).toBe(onRecord.tokens + 101 + 11);
  });

  it('a day quota frees at midnight in the sheet\'s time zone (the clock is moved, never slept)', async () => {
    let now = Date.parse('2026-03-10T14:59:00Z'); // 23:59 in Tokyo
    const sheets = await sheetWith([[A1, 'Acme', '', '', true, '', '', 2, 'day']], 'Asia/Tokyo');
    const s = await gateway({ sheets, now: () => now });
    expect((await chat(s, A1)).status).toBe(200);
    const second = await chat(s, A1);
    expect(second.status).toBe(200);
    expect(second.headers.get('x-quota-remaining-requests')).toBe('0');
    expect(second.headers.get('x-quota-reset')).toBe('60');
    const refused = await chat(s, A1);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('60');
    now = Date.parse('2026-03-10T14:59:59Z');
    expect((await chat(s, A1)).status).toBe(429);
    now = Date.parse('2026-03-10T15:00:00Z'); // midnight in Tokyo, 15:00 in UTC
    const freed = await chat(s, A1);
    expect(freed.status).toBe(200);
    expect(freed.headers.get('x-quota-remaining-requests')).toBe('1');
    expect((await standing(s, A1)).quota).toEqual({ period: 'day', period_end: '2026-03-11T15:00:00.000Z', tokens: null, requests: { used: 1, limit: 2 } });
  });
});

describe('Redis unavailable', () => {
  it('counts in memory with a warning while Redis is away, and goes back to the shared count', async () => {
    const own = await startRedis();
    try {
      const sheets = await sheetWith([[A1, 'Acme', '', '', true, '', '', 3, 'day']]);
      const s = await gateway({ sheets, env: { REDIS_URL: own.url } });
      expect((await chat(s, A1)).status).toBe(200);
      await own.kill();
      const during = await chat(s, A1);
      expect(during.status).toBe(200);
      // This replica's memory knows nothing of the shared count: its own count starts again.
      expect(during.headers.get('x-quota-remaining-requests')).toBe('2');
      expect(s.logs.join('\n')).toContain('Redis unavailable');
      await own.restart();
      await eventually(async () => ((await (await fetch(`${s.url}/auth/status`)).json()) as { rate_limiter: { redis: string } }).rate_limiter.redis === 'ok', 'redis back', 8_000);
      const after = await chat(s, A1);
      expect(after.status).toBe(200);
      // Redis restarted empty (no persistence) and nothing was flushed yet: the shared count starts
      // again from the Usage record as this gateway read it (docs/quotas.md says how far it lags).
      expect(after.headers.get('x-quota-remaining-requests')).toBe('2');
    } finally {
      await own.stop();
    }
  });
});
