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

/** A token admission: the decision, and the reservation to settle once the answer ended. */
export interface TokenDecision extends RateLimitDecision {
  /** Null when nothing was reserved (denied, or a request that reserves 0). */
  reservation: string | null;
}

/**
 * Tokens per sliding window, with reservations so concurrent requests cannot all slip in
 * under the limit. Admission reserves the request's budget; the answer's real usage settles it.
 * A request is admitted when the tokens spent in the window plus those reserved plus its own
 * stay within `limit`, or when nothing is spent or reserved at all.
 */
export interface TokenLimiter {
  reserve(id: string, limit: number, windowMs: number, tokens: number): Promise<TokenDecision>;
  /** Drops the reservation and records what the answer spent, from now, in the window. */
  settle(id: string, reservation: string | null, spent: number, windowMs: number): Promise<void>;
  /** The window as it stands, reserving and recording nothing (`GET /auth/key`). */
  peek(id: string, limit: number, windowMs: number): Promise<RateLimitDecision>;
  close(): Promise<void>;
}

/**
 * A reservation not settled within this time is dropped: a replica that died mid-request must
 * not block a key for ever. Longer than any sane answer (UPSTREAM_TIMEOUT is 600 s by default).
 */
export const RESERVATION_TTL_MS = 30 * 60_000;

/** Retry-After for a request refused only because of other requests' reservations. */
export const RESERVED_RETRY_MS = 1_000;

export interface LimiterStatus {
  backend: 'memory' | 'redis';
  /** With Redis: whether it currently answers; while it does not, limits are per replica. */
  redis?: 'ok' | 'unavailable';
  redis_unavailable_since?: string | null;
}
