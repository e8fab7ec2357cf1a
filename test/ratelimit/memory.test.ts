import { describe, expect, it } from 'vitest';
import { MemoryRateLimiter } from '../../server/ratelimit/memory.ts';

function limiterAt(): { limiter: MemoryRateLimiter; clock: { t: number } } {
  const clock = { t: 1_000_000 };
  return { limiter: new MemoryRateLimiter(() => clock.t), clock };
}

describe('MemoryRateLimiter: exact sliding window', () => {
  it('admits at most `limit` in any rolling window and tells when a slot frees', () => {
    const { limiter, clock } = limiterAt();
    const base = clock.t;
    const at = (dt: number) => {
      clock.t = base + dt;
      return limiter.checkSync('k', 3, 1_000);
    };
    expect(at(0)).toEqual({ allowed: true, limit: 3, remaining: 2, resetMs: 1_000 });
    expect(at(100).remaining).toBe(1);
    expect(at(200).remaining).toBe(0);
    expect(at(300)).toEqual({ allowed: false, limit: 3, remaining: 0, resetMs: 700 });
    expect(at(999).allowed).toBe(false);
    // At t=1000 the request from t=0 has left the window (t-1000, t]; exactly one slot frees.
    expect(at(1_000)).toMatchObject({ allowed: true, remaining: 0, resetMs: 100 });
    expect(at(1_001).allowed).toBe(false);
    expect(at(1_100).allowed).toBe(true);
  });

  it('does not count rejected requests', () => {
    const { limiter, clock } = limiterAt();
    const base = clock.t;
    limiter.checkSync('k', 1, 1_000);
    for (let i = 1; i < 100; i += 1) {
      clock.t = base + i * 9;
      expect(limiter.checkSync('k', 1, 1_000).allowed).toBe(false);
    }
    clock.t = base + 1_000;
    expect(limiter.checkSync('k', 1, 1_000).allowed).toBe(true);
  });

  it('never admits more than the limit in any window over a random arrival pattern', () => {
    const { limiter, clock } = limiterAt();
    const admitted: number[] = [];
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 5_000; i += 1) {
      clock.t += Math.floor(rand() * 40);
      if (limiter.checkSync('k', 7, 500).allowed) admitted.push(clock.t);
    }
    for (let i = 0; i < admitted.length; i += 1) {
      const inWindow = admitted.filter((t) => t > admitted[i]! - 500 && t <= admitted[i]!).length;
      expect(inWindow).toBeLessThanOrEqual(7);
    }
    // And it is not stingy: ~100 s of traffic at 7 per 0.5 s admits close to 1,400.
    expect(admitted.length).toBeGreaterThan(1_200);
  });

  it('keeps memory bounded: keys are independent and idle ones are dropped', () => {
    const { limiter, clock } = limiterAt();
    for (let i = 0; i < 1_000; i += 1) limiter.checkSync(`key-${i}`, 5, 1_000);
    expect(limiter.trackedKeys).toBe(1_000);
    clock.t += 11_000;
    limiter.checkSync('fresh', 5, 1_000);
    expect(limiter.trackedKeys).toBe(1);
  });
});
