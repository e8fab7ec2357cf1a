import type { RateLimitDecision, TokenLimiter } from './types.ts';

/** (time, tokens) entries of one key, oldest first, with their running sum. */
class TokenWindow {
  times: number[] = [];
  tokens: number[] = [];
  head = 0;
  sum = 0;

  add(t: number, n: number): void {
    this.times.push(t);
    this.tokens.push(n);
    this.sum += n;
  }

  dropThrough(cutoff: number): void {
    while (this.head < this.times.length && this.times[this.head]! <= cutoff) {
      this.sum -= this.tokens[this.head]!;
      this.head += 1;
    }
    if (this.head > 256 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.tokens = this.tokens.slice(this.head);
      this.head = 0;
    }
  }

  get empty(): boolean {
    return this.head >= this.times.length;
  }

  /** Ms until enough tokens leave the window for the sum to drop below `limit`. */
  msUntilBelow(limit: number, windowMs: number, now: number): number {
    let freed = 0;
    for (let i = this.head; i < this.times.length; i += 1) {
      freed += this.tokens[i]!;
      if (this.sum - freed < limit) return this.times[i]! + windowMs - now;
    }
    return windowMs;
  }
}

const SWEEP_EVERY_MS = 10_000;

/** Tokens per sliding window in this replica's memory; idle keys swept out. */
export class MemoryTokenLimiter implements TokenLimiter {
  private readonly windows = new Map<string, TokenWindow>();
  private lastSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  checkSync(id: string, limit: number, windowMs: number): RateLimitDecision {
    const now = this.now();
    if (now - this.lastSweep >= SWEEP_EVERY_MS) this.sweep(now, windowMs);
    const w = this.windows.get(id);
    w?.dropThrough(now - windowMs);
    const used = w?.sum ?? 0;
    if (used < limit) {
      const resetMs = w && !w.empty ? w.times[w.head]! + windowMs - now : 0;
      return { allowed: true, limit, remaining: limit - used, resetMs };
    }
    return { allowed: false, limit, remaining: 0, resetMs: w!.msUntilBelow(limit, windowMs, now) };
  }

  async check(id: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    return this.checkSync(id, limit, windowMs);
  }

  /** The check records nothing: it is its own peek. */
  async peek(id: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    return this.checkSync(id, limit, windowMs);
  }

  recordSync(id: string, tokens: number): void {
    if (tokens <= 0) return;
    let w = this.windows.get(id);
    if (!w) {
      w = new TokenWindow();
      this.windows.set(id, w);
    }
    w.add(this.now(), tokens);
  }

  async record(id: string, tokens: number): Promise<void> {
    this.recordSync(id, tokens);
  }

  private sweep(now: number, windowMs: number): void {
    this.lastSweep = now;
    for (const [id, w] of this.windows) {
      w.dropThrough(now - windowMs);
      if (w.empty) this.windows.delete(id);
    }
  }

  async close(): Promise<void> {
    this.windows.clear();
  }
}
