import { RESERVATION_TTL_MS, RESERVED_RETRY_MS, type RateLimitDecision, type TokenDecision, type TokenLimiter } from './types.ts';

/** One key: (time, tokens) spends, oldest first, with their running sum; and open reservations. */
class TokenWindow {
  times: number[] = [];
  tokens: number[] = [];
  head = 0;
  sum = 0;
  readonly held = new Map<string, { tokens: number; expires: number }>();
  heldSum = 0;

  add(t: number, n: number): void {
    this.times.push(t);
    this.tokens.push(n);
    this.sum += n;
  }

  dropThrough(cutoff: number, now: number): void {
    while (this.head < this.times.length && this.times[this.head]! <= cutoff) {
      this.sum -= this.tokens[this.head]!;
      this.head += 1;
    }
    if (this.head > 256 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.tokens = this.tokens.slice(this.head);
      this.head = 0;
    }
    for (const [id, h] of this.held) if (h.expires <= now) this.release(id);
  }

  release(reservation: string): void {
    const h = this.held.get(reservation);
    if (!h) return;
    this.held.delete(reservation);
    this.heldSum -= h.tokens;
  }

  get empty(): boolean {
    return this.head >= this.times.length && this.held.size === 0;
  }

  /** Ms until enough spends leave the window for `sum` to fall to `target` or below. */
  msUntilAtMost(target: number, windowMs: number, now: number): number {
    if (target < 0) return RESERVED_RETRY_MS; // other requests' reservations alone fill the limit
    let freed = 0;
    for (let i = this.head; i < this.times.length; i += 1) {
      freed += this.tokens[i]!;
      if (this.sum - freed <= target) return this.times[i]! + windowMs - now;
    }
    return windowMs;
  }
}

const SWEEP_EVERY_MS = 10_000;

/** Tokens per sliding window, with reservations, in this replica's memory; idle keys swept out. */
export class MemoryTokenLimiter implements TokenLimiter {
  private readonly windows = new Map<string, TokenWindow>();
  private lastSweep = 0;
  private seq = 0;

  constructor(private readonly now: () => number = Date.now) {}

  private window(id: string): TokenWindow {
    let w = this.windows.get(id);
    if (!w) {
      w = new TokenWindow();
      this.windows.set(id, w);
    }
    return w;
  }

  reserveSync(id: string, limit: number, windowMs: number, tokens: number): TokenDecision {
    const now = this.now();
    if (now - this.lastSweep >= SWEEP_EVERY_MS) this.sweep(now, windowMs);
    const w = this.window(id);
    w.dropThrough(now - windowMs, now);
    const used = w.sum + w.heldSum;
    const oldest = w.head < w.times.length ? w.times[w.head]! + windowMs - now : 0;
    if (used + tokens <= limit || used === 0) {
      let reservation: string | null = null;
      if (tokens > 0) {
        reservation = `m.${(this.seq += 1)}`;
        w.held.set(reservation, { tokens, expires: now + RESERVATION_TTL_MS });
        w.heldSum += tokens;
      }
      return { allowed: true, limit, remaining: Math.max(0, limit - used - tokens), resetMs: oldest, reservation };
    }
    return { allowed: false, limit, remaining: Math.max(0, limit - used), resetMs: w.msUntilAtMost(limit - w.heldSum - tokens, windowMs, now), reservation: null };
  }

  async reserve(id: string, limit: number, windowMs: number, tokens: number): Promise<TokenDecision> {
    return this.reserveSync(id, limit, windowMs, tokens);
  }

  /** A reservation of 0 tokens holds nothing: it is the peek. */
  async peek(id: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    return this.reserveSync(id, limit, windowMs, 0);
  }

  settleSync(id: string, reservation: string | null, spent: number): void {
    const w = this.window(id);
    if (reservation !== null) w.release(reservation);
    if (spent > 0) w.add(this.now(), spent);
    if (w.empty) this.windows.delete(id);
  }

  async settle(id: string, reservation: string | null, spent: number): Promise<void> {
    this.settleSync(id, reservation, spent);
  }

  private sweep(now: number, windowMs: number): void {
    this.lastSweep = now;
    for (const [id, w] of this.windows) {
      w.dropThrough(now - windowMs, now);
      if (w.empty) this.windows.delete(id);
    }
  }

  async close(): Promise<void> {
    this.windows.clear();
  }
}
