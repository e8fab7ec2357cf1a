import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, RedisTokenLimiter } from '../../server/ratelimit/redis.ts';
import { TOKEN_CHECK_SHA, TOKEN_RECORD_SHA } from '../../server/ratelimit/script.ts';
import { MemoryTokenLimiter } from '../../server/ratelimit/tokens-memory.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';

describe('MemoryTokenLimiter', () => {
  it('admits while fewer than `limit` tokens were spent in the window, and says when enough free up', () => {
    const clock = { t: 5_000_000 };
    const base = clock.t;
    const limiter = new MemoryTokenLimiter(() => clock.t);
    expect(limiter.checkSync('k', 100, 1_000)).toEqual({ allowed: true, limit: 100, remaining: 100, resetMs: 0 });
    limiter.recordSync('k', 60);
    clock.t = base + 200;
    expect(limiter.checkSync('k', 100, 1_000)).toMatchObject({ allowed: true, remaining: 40, resetMs: 800 });
    limiter.recordSync('k', 30);
    clock.t = base + 400;
    limiter.recordSync('k', 50); // an answer may overshoot: its size is known only afterwards
    const denied = limiter.checkSync('k', 100, 1_000);
    // 140 spent; below 100 once the 60 from t=0 leaves (80 left) at t=1000.
    expect(denied).toEqual({ allowed: false, limit: 100, remaining: 0, resetMs: 600 });
    clock.t = base + 999;
    expect(limiter.checkSync('k', 100, 1_000).allowed).toBe(false);
    clock.t = base + 1_000;
    expect(limiter.checkSync('k', 100, 1_000)).toMatchObject({ allowed: true, remaining: 20 });
  });
});

describe('RedisTokenLimiter', () => {
  let server: RedisServer;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedis();
    redis = connectRedis(server.url);
    await new Promise((resolve) => redis.once('ready', resolve));
  });
  afterAll(async () => {
    redis.disconnect();
    await server.stop();
  });

  it('has pinned script SHAs', () => {
    expect([TOKEN_CHECK_SHA, TOKEN_RECORD_SHA]).toEqual(['028aabf655979fbabd4141a977d75cab3d818833', '486257da9ae1d33b779942853337e207df7180a9']);
  });

  it('shares spent tokens across connections and slides exactly like the memory one', async () => {
    const a = new RedisTokenLimiter(redis);
    const otherConnection = connectRedis(server.url);
    await new Promise((resolve) => otherConnection.once('ready', resolve));
    const b = new RedisTokenLimiter(otherConnection);
    expect(await a.check('t1', 100, 800)).toMatchObject({ allowed: true, remaining: 100, resetMs: 0 });
    await a.record('t1', 70, 800);
    expect(await b.check('t1', 100, 800)).toMatchObject({ allowed: true, remaining: 30 });
    await new Promise((r) => setTimeout(r, 300));
    await b.record('t1', 45, 800);
    const denied = await a.check('t1', 100, 800);
    expect(denied.allowed).toBe(false);
    // Below the limit once the first spend (70, about 300 ms old) leaves.
    expect(denied.resetMs).toBeGreaterThan(0);
    expect(denied.resetMs).toBeLessThanOrEqual(500);
    await new Promise((r) => setTimeout(r, denied.resetMs + 30));
    expect(await b.check('t1', 100, 800)).toMatchObject({ allowed: true, remaining: 55 });
    await new Promise((r) => setTimeout(r, 400));
    expect(await a.check('t1', 100, 800)).toMatchObject({ allowed: true, remaining: 100 });
    const probe = new Redis(server.url);
    expect(await probe.exists('cg:tpm:{t1}:set', 'cg:tpm:{t1}:sum')).toBe(0);
    probe.disconnect();
    otherConnection.disconnect();
  });
});
