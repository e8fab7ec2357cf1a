import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, RedisTokenLimiter } from '../../server/ratelimit/redis.ts';
import { TOKEN_RESERVE_SHA, TOKEN_SETTLE_SHA } from '../../server/ratelimit/script.ts';
import { MemoryTokenLimiter } from '../../server/ratelimit/tokens-memory.ts';
import { RESERVED_RETRY_MS, type TokenLimiter } from '../../server/ratelimit/types.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';

describe('MemoryTokenLimiter', () => {
  it('admits while spent + reserved + the budget stay within the limit, and says when enough free up', () => {
    const clock = { t: 5_000_000 };
    const base = clock.t;
    const limiter = new MemoryTokenLimiter(() => clock.t);
    const a = limiter.reserveSync('k', 100, 1_000, 60);
    expect(a).toMatchObject({ allowed: true, limit: 100, remaining: 40, resetMs: 0 });
    // Reserved, not yet spent: a second request of 50 does not fit beside it, one of 40 does.
    expect(limiter.reserveSync('k', 100, 1_000, 50)).toMatchObject({ allowed: false, remaining: 40, resetMs: RESERVED_RETRY_MS, reservation: null });
    const b = limiter.reserveSync('k', 100, 1_000, 40);
    expect(b.allowed).toBe(true);
    limiter.settleSync('k', a.reservation, 30); // spent less than reserved: the rest frees at once
    clock.t = base + 200;
    expect(limiter.reserveSync('k', 100, 1_000, 0)).toMatchObject({ allowed: true, remaining: 30 });
    limiter.settleSync('k', b.reservation, 90); // an answer may overshoot: its size is known only afterwards
    clock.t = base + 400;
    // 120 spent (30 at t=0, 90 at t=200): a request of 10 fits once the 30 has left, at t=1000.
    const denied = limiter.reserveSync('k', 100, 1_000, 10);
    expect(denied).toMatchObject({ allowed: false, remaining: 0, resetMs: 600 });
    clock.t = base + 999;
    expect(limiter.reserveSync('k', 100, 1_000, 10).allowed).toBe(false);
    clock.t = base + 1_000;
    expect(limiter.reserveSync('k', 100, 1_000, 10)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('admits a budget over the limit when nothing is spent or reserved', () => {
    const limiter = new MemoryTokenLimiter(() => 1_000);
    expect(limiter.reserveSync('k', 50, 1_000, 80).allowed).toBe(true);
    expect(limiter.reserveSync('k', 50, 1_000, 1).allowed).toBe(false);
  });
});

/** 10 concurrent requests of budget 100 (capped at the limit, as the gateway does) against 50. */
async function concurrentReservations(limiter: TokenLimiter, id: string): Promise<number> {
  const decisions = await Promise.all(Array.from({ length: 10 }, () => limiter.reserve(id, 50, 60_000, Math.min(100, 50))));
  return decisions.filter((d) => d.allowed).length;
}

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
    expect([TOKEN_RESERVE_SHA, TOKEN_SETTLE_SHA]).toEqual(['3fcb4e136e73b9f5a96c7695060eb24d1c4fd762', 'aa7d60dab9eb8b1469d62683a47fe4873c65c006']);
  });

  it('admits one of 10 concurrent budgets of 100 against 50, in memory and in Redis', async () => {
    expect(await concurrentReservations(new MemoryTokenLimiter(), 'c1')).toBe(1);
    expect(await concurrentReservations(new RedisTokenLimiter(redis), 'c2')).toBe(1);
  });

  it('shares reservations and spends across connections and slides like the memory one', async () => {
    const a = new RedisTokenLimiter(redis);
    const otherConnection = connectRedis(server.url);
    await new Promise((resolve) => otherConnection.once('ready', resolve));
    const b = new RedisTokenLimiter(otherConnection);
    const first = await a.reserve('t1', 100, 800, 70);
    expect(first).toMatchObject({ allowed: true, remaining: 30, resetMs: 0 });
    expect(await b.reserve('t1', 100, 800, 40)).toMatchObject({ allowed: false, remaining: 30 });
    await a.settle('t1', first.reservation, 70, 800);
    expect(await b.reserve('t1', 100, 800, 0)).toMatchObject({ allowed: true, remaining: 30 });
    await new Promise((r) => setTimeout(r, 300));
    const second = await b.reserve('t1', 100, 800, 30);
    expect(second.allowed).toBe(true);
    await b.settle('t1', second.reservation, 45, 800);
    const denied = await a.reserve('t1', 100, 800, 1);
    expect(denied.allowed).toBe(false);
    // Fits once the first spend (70, about 300 ms old) leaves.
    expect(denied.resetMs).toBeGreaterThan(0);
    expect(denied.resetMs).toBeLessThanOrEqual(500);
    await new Promise((r) => setTimeout(r, denied.resetMs + 30));
    expect(await b.reserve('t1', 100, 800, 0)).toMatchObject({ allowed: true, remaining: 55 });
    await new Promise((r) => setTimeout(r, 400));
    expect(await a.reserve('t1', 100, 800, 0)).toMatchObject({ allowed: true, remaining: 100 });
    const probe = new Redis(server.url);
    expect(await probe.exists('cg:tpm:{t1}:set', 'cg:tpm:{t1}:sum', 'cg:tpm:{t1}:held')).toBe(0);
    probe.disconnect();
    otherConnection.disconnect();
  });

  it('forgets a reservation that was never settled once it expires', async () => {
    const limiter = new RedisTokenLimiter(redis);
    expect((await limiter.reserve('t2', 50, 60_000, 50)).allowed).toBe(true);
    expect((await limiter.reserve('t2', 50, 60_000, 50)).allowed).toBe(false);
    // As if RESERVATION_TTL_MS had passed: move its expiry into the past.
    const [member] = await redis.zrange('cg:tpm:{t2}:held', '0', '-1');
    await redis.zadd('cg:tpm:{t2}:held', '1', member!);
    expect((await limiter.reserve('t2', 50, 60_000, 50)).allowed).toBe(true);
  });
});
