import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, RedisRateLimiter } from '../../server/ratelimit/redis.ts';
import { SLIDING_WINDOW_LUA, SLIDING_WINDOW_SHA } from '../../server/ratelimit/script.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';

let server: RedisServer;
let redis: Redis;
let limiter: RedisRateLimiter;

beforeAll(async () => {
  server = await startRedis();
  redis = connectRedis(server.url);
  await new Promise((resolve) => redis.once('ready', resolve));
  limiter = new RedisRateLimiter(redis);
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

describe('the Redis sliding-window script', () => {
  it('has a pinned SHA: changing the script is deliberate', () => {
    expect(SLIDING_WINDOW_SHA).toBe(createHash('sha1').update(SLIDING_WINDOW_LUA).digest('hex'));
    expect(SLIDING_WINDOW_SHA).toBe('2b3baa56f060fe6881f9b35b1515412609d13be1');
  });

  it('runs by EVALSHA and survives SCRIPT FLUSH (NOSCRIPT falls back to EVAL)', async () => {
    await limiter.check('sha-test', 5, 1_000);
    const probe = new Redis(server.url);
    expect(await probe.script('EXISTS', SLIDING_WINDOW_SHA)).toEqual([1]);
    await probe.script('FLUSH');
    expect(await probe.script('EXISTS', SLIDING_WINDOW_SHA)).toEqual([0]);
    expect((await limiter.check('sha-test', 5, 1_000)).allowed).toBe(true);
    expect(await probe.script('EXISTS', SLIDING_WINDOW_SHA)).toEqual([1]);
    probe.disconnect();
  });

  it('admits exactly `limit` of a concurrent burst, from two connections', async () => {
    const otherConnection = connectRedis(server.url);
    await new Promise((resolve) => otherConnection.once('ready', resolve));
    const other = new RedisRateLimiter(otherConnection);
    const checks = Array.from({ length: 60 }, (_, i) => (i % 2 ? limiter : other).check('burst', 13, 5_000));
    const results = await Promise.all(checks);
    expect(results.filter((r) => r.allowed)).toHaveLength(13);
    const remaining = results.filter((r) => r.allowed).map((r) => r.remaining).sort((a, b) => a - b);
    expect(remaining).toEqual(Array.from({ length: 13 }, (_, i) => i));
    for (const r of results.filter((x) => !x.allowed)) expect(r.resetMs).toBeGreaterThan(4_000);
    otherConnection.disconnect();
  });

  it('slides: a slot frees exactly when the oldest request leaves the window; rejections do not count', async () => {
    const first = await limiter.check('slide', 2, 600);
    expect(first).toMatchObject({ allowed: true, remaining: 1 });
    expect((await limiter.check('slide', 2, 600)).allowed).toBe(true);
    const denied = await limiter.check('slide', 2, 600);
    expect(denied.allowed).toBe(false);
    expect(denied.resetMs).toBeGreaterThan(0);
    expect(denied.resetMs).toBeLessThanOrEqual(600);
    for (let i = 0; i < 5; i += 1) await limiter.check('slide', 2, 600);
    await new Promise((r) => setTimeout(r, denied.resetMs + 20));
    expect((await limiter.check('slide', 2, 600)).allowed).toBe(true);
    expect((await limiter.check('slide', 2, 600)).allowed).toBe(true);
    expect((await limiter.check('slide', 2, 600)).allowed).toBe(false);
  });

  it('lets idle windows expire in Redis', async () => {
    await limiter.check('idle', 3, 200);
    const probe = new Redis(server.url);
    expect(await probe.exists('cg:rl:idle')).toBe(1);
    await new Promise((r) => setTimeout(r, 350));
    expect(await probe.exists('cg:rl:idle')).toBe(0);
    probe.disconnect();
  });
});
