/** The verdict on one request. Denials are values; only I/O faults throw. */
export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  /** Requests (or tokens) still admitted in the current window. */
  remaining: number;
  /** Milliseconds until the window frees enough (a slot, or enough tokens); 0 when nothing is held. */
  resetMs: number;
}

/**
 * A true sliding window per key: no rolling window of `windowMs` ever admits more than `limit`
 * requests, and a rejected request is not counted.
 */
export interface RateLimiter {
  check(id: string, limit: number, windowMs: number): Promise<RateLimitDecision>;
  /** The window as it stands, recording nothing (`GET /auth/key`); `allowed`: whether a request would be. */
  peek(id: string, limit: number, windowMs: number): Promise<RateLimitDecision>;
  close(): Promise<void>;
}

/**
 * Tokens per sliding window. A request is admitted while fewer than `limit` tokens were spent in
 * the window; what an answer spends is recorded after it (its size is unknown before).
 */
export interface TokenLimiter {
  check(id: string, limit: number, windowMs: number): Promise<RateLimitDecision>;
  record(id: string, tokens: number, windowMs: number): Promise<void>;
  /** The window as it stands, recording nothing (`GET /auth/key`). */
  peek(id: string, limit: number, windowMs: number): Promise<RateLimitDecision>;
  close(): Promise<void>;
}

export interface LimiterStatus {
  backend: 'memory' | 'redis';
  /** With Redis: whether it currently answers; while it does not, limits are per replica. */
  redis?: 'ok' | 'unavailable';
  redis_unavailable_since?: string | null;
}
