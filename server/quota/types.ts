import type { PeriodWindow } from './period.ts';

/** A client's limits for one period, from the presented key's row; null: none. */
export interface QuotaLimits {
  tokens: number | null;
  requests: number | null;
}

/** What a client has used in one period. */
export interface QuotaUse {
  /** Tokens the answers reported (prompt + completion). */
  tokensSpent: number;
  /** Tokens held by requests still being answered. */
  tokensReserved: number;
  /** Requests admitted (a request that never reached the upstream is given back). */
  requests: number;
}

/** Usage of a period already on record (the Usage tab) when this gateway first counts it. */
export interface QuotaSeed {
  tokens: number;
  requests: number;
}

export type QuotaDecision =
  | { allowed: true; use: QuotaUse }
  | { allowed: false; exceeded: 'tokens' | 'requests'; use: QuotaUse };

/**
 * Counts per client and period. Admission checks and reserves in one atomic step; settling
 * replaces the reservation by what the answer spent. `seed` (null when the record could not be
 * read) raises a count this store did not seed yet to at least what the record says: a restart or
 * a new replica never starts a period from zero. Denials are values; I/O faults throw.
 */
export interface QuotaCounts {
  admit(client: string, period: PeriodWindow, limits: QuotaLimits, reserve: number, seed: QuotaSeed | null): Promise<QuotaDecision>;
  settle(client: string, period: PeriodWindow, reserved: number, spentTokens: number, served: boolean): Promise<void>;
  /** The count as it stands, null when there is none yet (read-only). */
  peek(client: string, period: PeriodWindow): Promise<QuotaUse | null>;
  close(): Promise<void>;
}

/** Whether `reserve` more tokens and one more request fit; the first limit that does not fit. */
export function exceeded(use: QuotaUse, limits: QuotaLimits, reserve: number): 'tokens' | 'requests' | null {
  // Admitted while reserved + spent stays within the quota; reserve is capped at the quota, so a
  // period with nothing reserved or spent always admits one request.
  if (limits.tokens !== null && use.tokensSpent + use.tokensReserved + reserve > limits.tokens) return 'tokens';
  if (limits.requests !== null && use.requests + 1 > limits.requests) return 'requests';
  return null;
}
