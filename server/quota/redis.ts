import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { withFallback, type RedisHealth } from '../ratelimit/health.ts';
import type { MemoryQuotaCounts } from './memory.ts';
import type { PeriodWindow } from './period.ts';
import { QUOTA_LUA } from './script.ts';
import type { QuotaCounts, QuotaDecision, QuotaLimits, QuotaSeed, QuotaUse } from './types.ts';

/** A count outlives its period by this much, so a request answered across the boundary still settles. */
const EXPIRE_AFTER_PERIOD_MS = 3_600_000;

interface RedisWithQuota extends Redis {
  cgQuota(key: string, ...args: Array<string | number>): Promise<number[] | number>;
}

/** Registers the quota script on a connection (ioredis sends EVALSHA, and EVAL on NOSCRIPT). */
export function defineQuotaScript(redis: Redis): void {
  redis.defineCommand('cgQuota', { numberOfKeys: 1, lua: QUOTA_LUA });
}

/** Client names become a hash in key names: any text is safe, and none is readable in Redis. */
export function quotaKey(client: string, period: PeriodWindow): string {
  const id = createHash('sha256').update(client, 'utf8').digest('hex').slice(0, 24);
  return `cg:quota:v1:{${id}}:${period.key}`;
}

/** The shared count: every replica admits against the same hash, atomically. */
export class RedisQuotaCounts implements QuotaCounts {
  constructor(
    private readonly redis: Redis,
    private readonly now: () => number = Date.now,
  ) {}

  async admit(client: string, period: PeriodWindow, limits: QuotaLimits, reserve: number, seed: QuotaSeed | null): Promise<QuotaDecision> {
    const reply = (await (this.redis as RedisWithQuota).cgQuota(
      quotaKey(client, period), 'admit', this.ttl(period),
      limits.tokens ?? 0, limits.requests ?? 0, reserve, seed?.tokens ?? 0, seed?.requests ?? -1,
    )) as number[];
    const use: QuotaUse = { tokensSpent: reply[2]!, tokensReserved: reply[3]!, requests: reply[4]! };
    if (reply[0] === 1) return { allowed: true, use };
    return { allowed: false, exceeded: reply[1] === 2 ? 'requests' : 'tokens', use };
  }

  async settle(client: string, period: PeriodWindow, reserved: number, spentTokens: number, served: boolean): Promise<void> {
    await (this.redis as RedisWithQuota).cgQuota(quotaKey(client, period), 'settle', this.ttl(period), reserved, spentTokens, served ? 1 : 0);
  }

  /** How long a count lives on, on the gateway's clock (Redis's may differ). */
  private ttl(period: PeriodWindow): number {
    return Math.max(1, period.endMs - this.now()) + EXPIRE_AFTER_PERIOD_MS;
  }

  async peek(client: string, period: PeriodWindow): Promise<QuotaUse | null> {
    const [spent, reserved, requests] = await this.redis.hmget(quotaKey(client, period), 'spent', 'reserved', 'requests');
    if (spent === null && requests === null) return null;
    return { tokensSpent: Number(spent ?? 0), tokensReserved: Number(reserved ?? 0), requests: Number(requests ?? 0) };
  }

  async close(): Promise<void> {}
}

/**
 * Redis while it answers, this replica's memory while it does not (as the rate limiter does).
 * A request settles where it was admitted.
 */
export class FallbackQuotaCounts implements QuotaCounts {
  private readonly admittedLocally = new WeakSet<PeriodWindow>();

  constructor(
    private readonly health: RedisHealth,
    private readonly shared: RedisQuotaCounts,
    readonly local: MemoryQuotaCounts,
  ) {}

  admit(client: string, period: PeriodWindow, limits: QuotaLimits, reserve: number, seed: QuotaSeed | null): Promise<QuotaDecision> {
    return withFallback<QuotaCounts, QuotaDecision>(this.health, this.shared, this.local, (c) => {
      if (c === this.local) this.admittedLocally.add(period);
      return c.admit(client, period, limits, reserve, seed);
    });
  }

  async settle(client: string, period: PeriodWindow, reserved: number, spentTokens: number, served: boolean): Promise<void> {
    if (this.admittedLocally.has(period)) return this.local.settle(client, period, reserved, spentTokens, served);
    await this.shared.settle(client, period, reserved, spentTokens, served);
  }

  peek(client: string, period: PeriodWindow): Promise<QuotaUse | null> {
    return withFallback<QuotaCounts, QuotaUse | null>(this.health, this.shared, this.local, (c) => c.peek(client, period));
  }

  async close(): Promise<void> {}
}
