import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeVllm, type FakeVllm } from '../../scripts/fake-vllm.ts';
import { keysLoaded, spawnGateway, type GatewayProcess } from '../support/process.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { bearer, eventually, HEADER, SHEET_ID, startStack, type Stack } from '../support/stack.ts';

const KEY = 'sk-convergence-dddddddd-0000-4000-8000-000000000001';
const OTHER = 'sk-convergence-dddddddd-0000-4000-8000-000000000002';
const ADMIN = 'admin-key-for-ratelimit-tests';

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

let stack: Stack | null = null;
afterEach(async () => {
  await stack?.close();
  stack = null;
});

const get = (key: string, base = stack!.url) => fetch(`${base}/v1/models`, { headers: bearer(key) });

describe('per-key sliding window through the gateway', () => {
  it('answers 429 with a true Retry-After and X-RateLimit-* on every authenticated answer', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, 3], [OTHER, 'Beta', '', '', true, 3]], env: { RATE_LIMIT_WINDOW: '2' } });
    const answers = [];
    for (let i = 0; i < 3; i += 1) answers.push(await get(KEY));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(answers.map((r) => r.headers.get('x-ratelimit-remaining'))).toEqual(['2', '1', '0']);
    expect(answers.every((r) => r.headers.get('x-ratelimit-limit') === '3')).toBe(true);
    expect(Number(answers[2]!.headers.get('x-ratelimit-reset'))).toBeGreaterThanOrEqual(1);

    const denied = await get(KEY);
    expect(denied.status).toBe(429);
    expect((await denied.json()).error).toMatchObject({ code: 'rate_limit_exceeded', type: 'rate_limit_error' });
    const retryAfter = Number(denied.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(2);
    expect(denied.headers.get('x-client-name')).toBe('Acme');
    expect(denied.headers.get('x-ratelimit-remaining')).toBe('0');
    // Another key has its own window.
    expect((await get(OTHER)).status).toBe(200);
    for (let i = 0; i < 5; i += 1) expect((await get(KEY)).status).toBe(429);
    expect(stack.vllm.requests.length).toBe(4);

    // Rejections did not count: once the window slides past the first three, three more pass.
    await new Promise((r) => setTimeout(r, retryAfter * 1000 + 50));
    const again = [];
    for (let i = 0; i < 4; i += 1) again.push((await get(KEY)).status);
    expect(again).toEqual([200, 200, 200, 429]);
  });

  it('uses RATE_LIMIT_DEFAULT for blank limits, and 0 means unlimited', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']], env: { RATE_LIMIT_DEFAULT: '2' } });
    expect([(await get(KEY)).status, (await get(KEY)).status, (await get(KEY)).status]).toEqual([200, 200, 429]);
    await stack.close();
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']], env: { RATE_LIMIT_DEFAULT: '0' } });
    const all = await Promise.all(Array.from({ length: 30 }, () => get(KEY)));
    expect(all.every((r) => r.status === 200)).toBe(true);
    expect(all[0]!.headers.get('x-ratelimit-limit')).toBeNull();
  });

  it('a limit changed in the sheet applies from the next reload', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, 1]], env: { ADMIN_API_KEY: ADMIN } });
    expect([(await get(KEY)).status, (await get(KEY)).status]).toEqual([200, 429]);
    stack.sheets.setTab(SHEET_ID, 'API_Keys', [HEADER, [KEY, 'Acme', '', '', true, 4]]);
    await fetch(`${stack.url}/admin/reload-keys`, { method: 'POST', headers: bearer(ADMIN) });
    const statuses = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await get(KEY)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });
});

describe('Redis shared by replicas', () => {
  let vllm: FakeVllm;
  const procs: GatewayProcess[] = [];
  beforeAll(async () => {
    vllm = await startFakeVllm();
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await vllm.close();
  });

  it('two gateway processes on one Redis admit exactly rate_limit per window together', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cg-rl-'));
    const keysFile = join(dir, 'keys.csv');
    writeFileSync(keysFile, `${HEADER.join(',')}\n${KEY},Acme,,,TRUE,7\n`);
    const env = { KEYS_FILE: keysFile, UPSTREAM_URL: vllm.url, REDIS_URL: redis.url, RATE_LIMIT_WINDOW: '60' };
    procs.push(spawnGateway(env), spawnGateway(env));
    const [a, b] = await Promise.all(procs.map((p) => p.listening));
    // Both must be connected to Redis before the burst, else each would count alone.
    for (const url of [a!, b!]) {
      await keysLoaded(url);
      await eventually(async () => ((await (await fetch(`${url}/auth/status`)).json()) as { rate_limiter: { redis: string } }).rate_limiter.redis === 'ok', 'redis ready');
    }
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => get(KEY, i % 2 ? a : b)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(7);
    expect(results.filter((r) => r.status === 429)).toHaveLength(33);
  });

  it('falls back to memory when Redis dies, warns once, and shares again when it returns', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, 1000]], env: { REDIS_URL: redis.url } });
    const status = async () => ((await (await fetch(`${stack!.url}/auth/status`)).json()) as { rate_limiter: Record<string, unknown> }).rate_limiter;
    await eventually(async () => (await status()).redis === 'ok', 'redis ready');
    expect((await get(KEY)).status).toBe(200);

    await redis.kill();
    const during = await Promise.all(Array.from({ length: 20 }, () => get(KEY)));
    expect(during.every((r) => r.status === 200)).toBe(true);
    expect(await status()).toMatchObject({ backend: 'redis', redis: 'unavailable' });
    const warnings = () => stack!.logs.filter((l) => l.includes('Redis unavailable')).length;
    expect(warnings()).toBe(1);

    await redis.restart();
    await eventually(async () => (await status()).redis === 'ok', 'redis back', 8_000);
    expect(stack.logs.some((l) => l.includes('Redis is back'))).toBe(true);
    expect(warnings()).toBe(1);
    expect((await get(KEY)).status).toBe(200);
  });
});
