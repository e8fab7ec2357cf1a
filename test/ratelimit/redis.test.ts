import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, MAX_CHECKS_PER_RUN, REQUEST_WINDOW_PREFIX, RedisRateLimiter } from '../../server/ratelimit/redis.ts';
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
    expect(SLIDING_WINDOW_SHA).toBe('19afbcdd700d166a1c04edaea3474faa7ea5d748');
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
    expect(await probe.exists(`${REQUEST_WINDOW_PREFIX}idle`)).toBe(1);
    await new Promise((r) => setTimeout(r, 350));
    expect(await probe.exists(`${REQUEST_WINDOW_PREFIX}idle`)).toBe(0);
    probe.disconnect();
  });

  it('stores a window as a list of admission times, pruned from the oldest end', async () => {
    const probe = new Redis(server.url);
    const key = `${REQUEST_WINDOW_PREFIX}shape`;
    await limiter.check('shape', 10, 300);
    await new Promise((r) => setTimeout(r, 150));
    await limiter.check('shape', 10, 300);
    expect(await probe.type(key)).toBe('list');
    const [first, second] = (await probe.lrange(key, 0, -1)).map(Number);
    expect(second! - first!).toBeGreaterThanOrEqual(140);
    await new Promise((r) => setTimeout(r, 200)); // the first has left the window, the second not
    expect(await limiter.check('shape', 10, 300)).toMatchObject({ allowed: true, remaining: 8 });
    expect(await probe.llen(key)).toBe(2);
    probe.disconnect();
  });
});

describe('batching: checks queued in one event-loop turn share one script run', () => {
  async function evalshaCalls(): Promise<number> {
    const probe = new Redis(server.url);
    const stats = await probe.info('commandstats');
    probe.disconnect();
    return Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0);
  }

  it('decides a burst over many keys in one run, each key exactly', async () => {
    await limiter.check('warm', 1, 1_000); // loads the script on this connection
    const before = await evalshaCalls();
    // Three keys, limits 2, 5 and 7, twenty checks each, interleaved: all queued in one turn.
    const limits: Record<string, number> = { a: 2, b: 5, c: 7 };
    const checks = Array.from({ length: 60 }, (_, i) => {
      const id = 'abc'[i % 3]!;
      return limiter.check(`batch-${id}`, limits[id]!, 5_000).then((d) => ({ id, ...d }));
    });
    const results = await Promise.all(checks);
    expect((await evalshaCalls()) - before).toBe(1);
    for (const [id, limit] of Object.entries(limits)) {
      const mine = results.filter((r) => r.id === id);
      // In queue order: the first `limit` are admitted with remaining counting down, the rest denied.
      expect(mine.map((r) => r.allowed)).toEqual(Array.from({ length: 20 }, (_, i) => i < limit));
      expect(mine.slice(0, limit).map((r) => r.remaining)).toEqual(Array.from({ length: limit }, (_, i) => limit - 1 - i));
    }
  });

  it(`splits a turn's checks into runs of at most ${MAX_CHECKS_PER_RUN}`, async () => {
    const before = await evalshaCalls();
    const n = MAX_CHECKS_PER_RUN * 2 + 1;
    const results = await Promise.all(Array.from({ length: n }, () => limiter.check('split', n - 1, 5_000)));
    expect((await evalshaCalls()) - before).toBe(3);
    expect(results.filter((r) => r.allowed)).toHaveLength(n - 1);
    expect(results.at(-1)!.allowed).toBe(false);
  });

  it('fails every check of a run when Redis fails it, so each can fall back', async () => {
    const probe = new Redis(server.url);
    // A key of the wrong type makes the script error for the whole run.
    await probe.set(`${REQUEST_WINDOW_PREFIX}wrong-type`, 'x');
    const outcomes = await Promise.allSettled([limiter.check('fine', 5, 1_000), limiter.check('wrong-type', 5, 1_000)]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
    await probe.del(`${REQUEST_WINDOW_PREFIX}wrong-type`);
    expect((await limiter.check('fine', 5, 1_000)).allowed).toBe(true);
    probe.disconnect();
  });
});

