import { randomBytes } from 'node:crypto';
import { Redis as IORedis, type Redis } from 'ioredis';
import { newFlushId, type UsageBatch } from './batch.ts';
import { UncertainPush, type SharedUsage } from './shared-usage.ts';
import type { UsageEntry } from './ledger.ts';
import { USAGE_CLEAR_LUA, USAGE_LOCK_LUA, USAGE_PUSH_LUA, USAGE_SEAL_LUA, USAGE_UNLOCK_LUA } from './script.ts';

export const USAGE_PREFIX = 'cg:usage:v1:';
const PERIODS = `${USAGE_PREFIX}periods`;
const PERIOD_PREFIX = `${USAGE_PREFIX}period:`;
const LOCK = `${USAGE_PREFIX}lock`;
const PENDING = `${USAGE_PREFIX}pending`;
/** A push marker outlives every retry of its push, a restart's resend included (two days). */
const PUSH_MARKER_MS = 2 * 24 * 3_600_000;
/** Usage scripts move a few hundred fields at most; allow more than the limiter's 250 ms. */
const USAGE_COMMAND_TIMEOUT_MS = 2_000;

interface UsageRedis extends Redis {
  cgUsagePush(periods: string, marker: string, markerMs: number, prefix: string, ...groups: Array<string | number>): Promise<number>;
  cgUsageSeal(lock: string, pending: string, periods: string, holder: string, flushId: string, before: string, sealedAt: string, instance: string, prefix: string): Promise<string[]>;
  cgUsageClear(pending: string, flushId: string): Promise<number>;
  cgUsageLock(lock: string, holder: string, leaseMs: number): Promise<number>;
  cgUsageUnlock(lock: string, holder: string): Promise<number>;
}

/** Teaches a connection the usage scripts (ioredis runs EVALSHA, and EVAL on NOSCRIPT). */
export function defineUsageScripts(redis: Redis): void {
  redis.defineCommand('cgUsagePush', { numberOfKeys: 2, lua: USAGE_PUSH_LUA });
  redis.defineCommand('cgUsageSeal', { numberOfKeys: 3, lua: USAGE_SEAL_LUA });
  redis.defineCommand('cgUsageClear', { numberOfKeys: 1, lua: USAGE_CLEAR_LUA });
  redis.defineCommand('cgUsageLock', { numberOfKeys: 1, lua: USAGE_LOCK_LUA });
  redis.defineCommand('cgUsageUnlock', { numberOfKeys: 1, lua: USAGE_UNLOCK_LUA });
}

/** Turns the seal script's data (period, flat field/value list) back into entries. */
export function entriesOf(data: string): UsageEntry[] {
  const periods = JSON.parse(data) as Array<[string, string[]]>;
  const out: UsageEntry[] = [];
  for (const [period, flat] of periods) {
    const byKey = new Map<string, UsageEntry>();
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const [kind, keyId] = [flat[i]!.slice(0, 1), flat[i]!.slice(2)];
      let e = byKey.get(keyId);
      if (!e) {
        e = { keyId, clientName: '', periodStart: Number(period), requests: 0, rate_limited: 0, prompt_tokens: 0, completion_tokens: 0 };
        byKey.set(keyId, e);
      }
      const v = flat[i + 1]!;
      if (kind === 'n') e.clientName = v;
      else if (kind === 'r') e.requests = Number(v);
      else if (kind === 'l') e.rate_limited = Number(v);
      else if (kind === 'p') e.prompt_tokens = Number(v);
      else if (kind === 'c') e.completion_tokens = Number(v);
    }
    out.push(...byKey.values());
  }
  return out;
}

export interface RedisSharedUsageOptions {
  /** How long the flush lock holds without renewal; renewed every flush interval. */
  leaseMs: number;
}

/**
 * One writer for all replicas. Every replica pushes its counts (idempotent per batch); the
 * holder of a leased lock seals closed periods and appends them. The lease is renewed on every
 * flush and before each write; when a holder dies, the lock lapses and the next replica to flush
 * takes it and resends whatever record the dead one left.
 */
export class RedisSharedUsage implements SharedUsage {
  readonly holderId = `${randomBytes(8).toString('hex')}`;
  private readonly redis: UsageRedis;

  constructor(redis: Redis, private readonly opts: RedisSharedUsageOptions) {
    this.redis = redis as UsageRedis;
  }

  usable(): boolean {
    return this.redis.status === 'ready';
  }

  async push(batch: UsageBatch): Promise<void> {
    const groups = batch.entries.flatMap((e) => [e.periodStart, e.keyId, e.clientName, e.requests, e.rate_limited, e.prompt_tokens, e.completion_tokens]);
    try {
      await this.redis.cgUsagePush(PERIODS, `${USAGE_PREFIX}push:${batch.flushId}`, PUSH_MARKER_MS, PERIOD_PREFIX, ...groups);
    } catch (err) {
      // A timed-out script may still have run: only Redis can tell, so only Redis gets it again.
      if (/timed out/i.test((err as Error).message)) throw new UncertainPush((err as Error).message);
      throw err;
    }
  }

  async holderFlush(sealBefore: number, nowMs: number, instance: string, write: (batch: UsageBatch) => Promise<void>): Promise<'not_holder' | 'empty' | 'written'> {
    if (!(await this.lock())) return 'not_holder';
    const before = sealBefore === Infinity ? 'inf' : String(sealBefore);
    let result: 'empty' | 'written' = 'empty';
    // A record a previous holder left goes first; then what has closed since is sealed anew.
    for (let round = 0; round < 2; round += 1) {
      const reply = await this.redis.cgUsageSeal(LOCK, PENDING, PERIODS, this.holderId, newFlushId(), before, new Date(nowMs).toISOString(), instance, PERIOD_PREFIX);
      const [status, flushId, sealedAt, sealer, data] = reply;
      if (status === 'not_holder') return result === 'written' ? result : 'not_holder';
      if (status === 'empty' || !flushId || !sealedAt || data === undefined) return result;
      const batch: UsageBatch = { flushId, sealedAt, instance: sealer ?? instance, entries: entriesOf(data) };
      await this.lock(); // renew before a write that may take a while
      await write(batch);
      await this.redis.cgUsageClear(PENDING, flushId);
      result = 'written';
      if (status === 'sealed') break;
    }
    return result;
  }

  /** Frees the lock at shutdown (the next replica need not wait for the lease), then disconnects. */
  async close(): Promise<void> {
    try {
      if (this.usable()) await this.redis.cgUsageUnlock(LOCK, this.holderId);
    } finally {
      this.redis.disconnect();
    }
  }

  private async lock(): Promise<boolean> {
    return (await this.redis.cgUsageLock(LOCK, this.holderId, this.opts.leaseMs)) === 1;
  }
}

/** The lock outlives a missed flush or two and a slow append (Sheets calls time out at 15 s). */
export function usageLeaseMs(intervalMs: number): number {
  return Math.max(3 * intervalMs, 60_000);
}

export const USAGE_REDIS_KEYS = { PERIODS, PERIOD_PREFIX, LOCK, PENDING };

/**
 * The usage connection: its own, so a seal of a few hundred fields gets a longer bound than the
 * limiter's 250 ms, and fails fast (no offline queue) when Redis is away.
 */
export function connectUsageRedis(url: string): Redis {
  const redis = new IORedis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: USAGE_COMMAND_TIMEOUT_MS,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  redis.on('error', () => undefined); // the limiters' health logs outages
  defineUsageScripts(redis);
  return redis;
}
