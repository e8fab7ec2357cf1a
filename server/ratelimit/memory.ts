import type { RateLimitDecision, RateLimiter } from './types.ts';

/** Timestamps of admitted requests, oldest first, in a growable ring buffer (no array shifting). */
class TimeQueue {
  private buf = new Float64Array(8);
  private head = 0;
  size = 0;

  push(t: number): void {
    if (this.size === this.buf.length) {
      const bigger = new Float64Array(this.buf.length * 2);
      for (let i = 0; i < this.size; i += 1) bigger[i] = this.buf[(this.head + i) % this.buf.length]!;
      this.buf = bigger;
      this.head = 0;
    }
    this.buf[(this.head + this.size) % this.buf.length] = t;
    this.size += 1;
  }

  oldest(): number {
    return this.buf[this.head]!;
  }

  newest(): number {
    return this.buf[(this.head + this.size - 1) % this.buf.length]!;
  }

  /** Drops every timestamp <= cutoff. */
  dropThrough(cutoff: number): void {
    while (this.size > 0 && this.buf[this.head]! <= cutoff) {
      this.head = (this.head + 1) % this.buf.length;
      this.size -= 1;
    }
    // Give memory back once a burst is over.
    if (this.size === 0 && this.buf.length > 64) {
      this.buf = new Float64Array(8);
      this.head = 0;
    }
  }
}

/** How often idle keys are swept out, at most. */
const SWEEP_EVERY_MS = 10_000;

/**
 * The in-memory sliding window: the exact timestamps of admitted requests, at most `limit` per
 * key (older ones pruned on every check), idle keys dropped by a periodic sweep.
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly windows = new Map<string, TimeQueue>();
  private lastSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  checkSync(id: string, limit: number, windowMs: number): RateLimitDecision {
    const now = this.now();
    if (now - this.lastSweep >= Math.min(SWEEP_EVERY_MS, windowMs)) this.sweep(now, windowMs);
    let q = this.windows.get(id);
    if (!q) {
      q = new TimeQueue();
      this.windows.set(id, q);
    }
    q.dropThrough(now - windowMs);
    if (q.size < limit) {
      q.push(now);
      return { allowed: true, limit, remaining: limit - q.size, resetMs: q.oldest() + windowMs - now };
    }
    return { allowed: false, limit, remaining: 0, resetMs: q.oldest() + windowMs - now };
  }

  async check(id: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    return this.checkSync(id, limit, windowMs);
  }

  async peek(id: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    const now = this.now();
    const q = this.windows.get(id);
    q?.dropThrough(now - windowMs);
    const used = q?.size ?? 0;
    const resetMs = q && q.size > 0 ? q.oldest() + windowMs - now : 0;
    return { allowed: used < limit, limit, remaining: Math.max(0, limit - used), resetMs };
  }

  /** Keys tracked right now (for tests of the memory bound). */
  get trackedKeys(): number {
    return this.windows.size;
  }

  private sweep(now: number, windowMs: number): void {
    this.lastSweep = now;
    for (const [id, q] of this.windows) {
      if (q.size === 0 || q.newest() <= now - windowMs) this.windows.delete(id);
    }
  }

  async close(): Promise<void> {
    this.windows.clear();
  }
}
