import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { periodAt } from '../../server/quota/period.ts';
import { defineQuotaScript, quotaKey, RedisQuotaCounts } from '../../server/quota/redis.ts';
import { QUOTA_LUA, QUOTA_SHA } from '../../server/quota/script.ts';
import { connectRedis, RedisRateLimiter } from '../../server/ratelimit/redis.ts';
import { REQUEST_PEEK_LUA, REQUEST_PEEK_SHA } from '../../server/ratelimit/script.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';

let server: RedisServer;
let redis: Redis;
let counts: RedisQuotaCounts;
const NOW = Date.parse('2026-05-20T10:00:00Z');
const month = periodAt('month', NOW, 'UTC');

beforeAll(async () => {
  server = await startRedis();
  redis = connectRedis(server.url);
  defineQuotaScript(redis);
  await new Promise((resolve) => redis.once('ready', resolve));
  counts = new RedisQuotaCounts(redis, () => NOW);
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

describe('the Redis quota script', () => {
  it('has pinned SHAs: changing a script is deliberate', () => {
    expect(QUOTA_SHA).toBe(createHash('sha1').update(QUOTA_LUA).digest('hex'));
    expect(QUOTA_SHA).toBe('705a5edd35e2a5295828db5c17340940fb9ee4fd');
    expect(REQUEST_PEEK_SHA).toBe(createHash('sha1').update(REQUEST_PEEK_LUA).digest('hex'));
    expect(REQUEST_PEEK_SHA).toBe('894925458876dc5defde0499923645a5ff5bf9a5');
  });

  it('runs by EVALSHA and survives SCRIPT FLUSH (NOSCRIPT falls back to EVAL)', async () => {
    await counts.admit('sha', month, { tokens: 10, requests: null }, 1, null);
    const probe = new Redis(server.url);
    expect(await probe.script('EXISTS', QUOTA_SHA)).toEqual([1]);
    await probe.script('FLUSH');
    expect((await counts.admit('sha', month, { tokens: 10, requests: null }, 1, null)).allowed).toBe(true);
    expect(await probe.script('EXISTS', QUOTA_SHA)).toEqual([1]);
    probe.disconnect();
  });

  it('admits exactly what fits of a concurrent burst from two connections, and a denial reserves nothing', async () => {
    const other = connectRedis(server.url);
    defineQuotaScript(other);
    await new Promise((resolve) => other.once('ready', resolve));
    const second = new RedisQuotaCounts(other, () => NOW);
    const limits = { tokens: 1_000, requests: null };
    const decisions = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? second : counts).admit('burst', month, limits, 100, { tokens: 0, requests: 0 })));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
    expect(await counts.peek('burst', month)).toEqual({ tokensSpent: 0, tokensReserved: 1_000, requests: 10 });
    other.disconnect();
  });

  it('settles to the real usage, gives back a request that never reached the upstream, and expires after the period', async () => {
    const limits = { tokens: 1_000, requests: 3 };
    const a = await counts.admit('settle', month, limits, 256, null);
    expect(a).toMatchObject({ allowed: true, use: { tokensReserved: 256, requests: 1 } });
    await counts.settle('settle', month, 256, 40, true);
    await counts.admit('settle', month, limits, 256, null);
    await counts.settle('settle', month, 256, 0, false);
    expect(await counts.peek('settle', month)).toEqual({ tokensSpent: 40, tokensReserved: 0, requests: 1 });
    const ttl = await redis.pttl(quotaKey('settle', month));
    expect(ttl).toBeGreaterThan(month.endMs - NOW);
    expect(ttl).toBeLessThan(month.endMs - NOW + 2 * 3_600_000);
  });

  it('seeds a count once (never lowers it), and a count no replica seeded is raised to the record', async () => {
    const limits = { tokens: 1_000, requests: 10 };
    await counts.admit('seed', month, limits, 1, { tokens: 700, requests: 4 });
    await counts.settle('seed', month, 1, 1, true);
    // A replica that read an older record seeds nothing: the count is already seeded.
    await counts.admit('seed', month, limits, 1, { tokens: 5, requests: 1 });
    expect(await counts.peek('seed', month)).toMatchObject({ tokensSpent: 701, requests: 6 });
    // A count created while the record could not be read is raised once it can.
    await counts.admit('late', month, limits, 0, null);
    await counts.admit('late', month, limits, 0, { tokens: 300, requests: 7 });
    expect(await counts.peek('late', month)).toMatchObject({ tokensSpent: 300, requests: 8 });
    const over = await counts.admit('late', month, limits, 0, { tokens: 999, requests: 0 });
    expect(over).toMatchObject({ allowed: true, use: { tokensSpent: 300, requests: 9 } });
    expect(await counts.admit('late', month, limits, 0, null)).toMatchObject({ allowed: true });
    expect(await counts.admit('late', month, limits, 0, null)).toMatchObject({ allowed: false, exceeded: 'requests' });
  });

  it('peeks at a request window without using a slot', async () => {
    const limiter = new RedisRateLimiter(redis);
    await limiter.check('peek', 3, 60_000);
    const seen = await limiter.peek('peek', 3, 60_000);
    expect(seen).toMatchObject({ allowed: true, limit: 3, remaining: 2 });
    expect(seen.resetMs).toBeGreaterThan(59_000);
    expect((await limiter.peek('peek', 3, 60_000)).remaining).toBe(2);
    expect(await limiter.peek('nobody', 3, 60_000)).toEqual({ allowed: true, limit: 3, remaining: 3, resetMs: 0 });
  });
});
