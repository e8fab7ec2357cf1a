import type { Logger } from 'pino';
import type { KeyRecord } from '../keys/types.ts';
import { periodAt, secondsUntilEnd, type PeriodWindow } from './period.ts';
import type { QuotaSeeds } from './seeds.ts';
import type { QuotaCounts, QuotaLimits, QuotaUse } from './types.ts';

type QuotaKey = Pick<KeyRecord, 'clientName' | 'tokenQuota' | 'requestQuota' | 'quotaPeriod'>;

/** One admitted (or refused) request against its client's quota. */
export interface Admission {
  allowed: boolean;
  client: string;
  period: PeriodWindow;
  limits: QuotaLimits;
  /** Tokens reserved at admission (0 when refused, or without a token quota). */
  reserved: number;
  remainingTokens: number | null;
  remainingRequests: number | null;
  /** Seconds until the period ends. */
  resetSeconds: number;
}

/** A client's standing in its current period, as `GET /auth/key` shows it. */
export interface QuotaStanding {
  period: KeyRecord['quotaPeriod'];
  period_end: string;
  tokens: { used: number; limit: number } | null;
  requests: { used: number; limit: number } | null;
}

export function hasQuota(key: QuotaKey): boolean {
  return key.tokenQuota !== null || key.requestQuota !== null;
}

/**
 * Quotas per client (every key with the same trimmed client_name shares one count) and calendar
 * period (in the key source's time zone). The limit applied is the presented key's row's.
 */
export class Quotas {
  constructor(
    private readonly counts: QuotaCounts,
    private readonly seeds: QuotaSeeds,
    private readonly reserveDefault: number,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  async admit(key: QuotaKey, zone: string, tokenBudget: number | undefined): Promise<Admission> {
    const client = key.clientName.trim();
    const now = this.now();
    const period = periodAt(key.quotaPeriod, now, zone);
    const limits: QuotaLimits = { tokens: key.tokenQuota, requests: key.requestQuota };
    const reserve = limits.tokens === null ? 0 : Math.min(Math.max(0, tokenBudget ?? this.reserveDefault), limits.tokens);
    const seed = await this.seeds.seedFor(client, period);
    const decision = await this.counts.admit(client, period, limits, reserve, seed);
    return {
      allowed: decision.allowed,
      client,
      period,
      limits,
      reserved: decision.allowed ? reserve : 0,
      ...remaining(decision.use, limits),
      resetSeconds: secondsUntilEnd(period, now),
    };
  }

  /** Replaces the reservation by what the answer spent; `spent` undefined: it never reached the upstream. */
  async settle(a: Admission, spent: { prompt_tokens: number; completion_tokens: number } | undefined): Promise<void> {
    if (!a.allowed) return;
    const tokens = spent ? Math.max(0, spent.prompt_tokens) + Math.max(0, spent.completion_tokens) : 0;
    await this.counts.settle(a.client, a.period, a.reserved, tokens, spent !== undefined).catch((err: unknown) => {
      this.log.warn({ error: (err as Error).message }, 'quota: cannot settle a request (its usage still reaches the Usage record)');
    });
  }

  /** Read-only: counts nothing, reserves nothing. */
  async standing(key: QuotaKey, zone: string): Promise<QuotaStanding | null> {
    if (!hasQuota(key)) return null;
    const client = key.clientName.trim();
    const period = periodAt(key.quotaPeriod, this.now(), zone);
    const use = await this.counts.peek(client, period);
    const seed = use ? null : await this.seeds.seedFor(client, period);
    const spent = use?.tokensSpent ?? seed?.tokens ?? 0;
    const requests = use?.requests ?? seed?.requests ?? 0;
    return {
      period: key.quotaPeriod,
      period_end: new Date(period.endMs).toISOString(),
      tokens: key.tokenQuota === null ? null : { used: spent, limit: key.tokenQuota },
      requests: key.requestQuota === null ? null : { used: requests, limit: key.requestQuota },
    };
  }
}

function remaining(use: QuotaUse, limits: QuotaLimits): { remainingTokens: number | null; remainingRequests: number | null } {
  return {
    remainingTokens: limits.tokens === null ? null : Math.max(0, limits.tokens - use.tokensSpent - use.tokensReserved),
    remainingRequests: limits.requests === null ? null : Math.max(0, limits.requests - use.requests),
  };
}
