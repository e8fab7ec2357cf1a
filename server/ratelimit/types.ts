/** The verdict on one request. Denials are values; only I/O faults throw. */
export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  /** Requests still admitted in the current window after this one. */
  remaining: number;
  /** Milliseconds until the oldest request in the window leaves it (a slot frees); 0 when the window is empty. */
  resetMs: number;
}

/**
 * A true sliding window per key: no rolling window of `windowMs` ever admits more than `limit`
 * requests, and a rejected request is not counted.
 */
export interface RateLimiter {
  check(id: string, limit: number, windowMs: number): Promise<RateLimitDecision>;
  close(): Promise<void>;
}

export interface LimiterStatus {
  backend: 'memory' | 'redis';
  /** With Redis: whether it currently answers; while it does not, limits are per replica. */
  redis?: 'ok' | 'unavailable';
  redis_unavailable_since?: string | null;
}
