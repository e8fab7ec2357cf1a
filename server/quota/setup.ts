import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisHealth } from '../ratelimit/health.ts';
import type { StateDir } from '../state/files.ts';
import type { UsageHistory } from '../usage/history.ts';
import { MemoryQuotaCounts } from './memory.ts';
import { QuotaStateFile } from './persist.ts';
import { Quotas } from './quotas.ts';
import { QuotaSeeds } from './seeds.ts';
import type { QuotaCounts } from './types.ts';

export interface QuotaSetup {
  quotas: Quotas;
  seeds: QuotaSeeds;
  /** After the last request settled: writes the counts to STATE_DIR once more. */
  close(): Promise<void>;
}

export interface QuotaSetupOptions {
  history: UsageHistory | null;
  stateDir: StateDir | null;
  /** With REDIS_URL: the limiters' connection and health (counts fall back to memory while Redis is away). */
  redis: { client: Redis; health: RedisHealth } | null;
  reserveDefault: number;
  log: Logger;
  now: () => number;
}

/** Quota counts in Redis (shared), else in memory kept in STATE_DIR; seeded from the Usage record. */
export async function setUpQuotas(opts: QuotaSetupOptions): Promise<QuotaSetup> {
  const memory = new MemoryQuotaCounts(opts.now);
  const file = opts.stateDir ? new QuotaStateFile(opts.stateDir, memory, opts.log) : null;
  await file?.restore();
  let counts: QuotaCounts = memory;
  if (opts.redis) {
    const { defineQuotaScript, FallbackQuotaCounts, RedisQuotaCounts } = await import('./redis.ts');
    defineQuotaScript(opts.redis.client);
    counts = new FallbackQuotaCounts(opts.redis.health, new RedisQuotaCounts(opts.redis.client, opts.now), memory);
  }
  const seeds = new QuotaSeeds(opts.history, opts.log, opts.now);
  return {
    quotas: new Quotas(counts, seeds, opts.reserveDefault, opts.log, opts.now),
    seeds,
    close: async () => {
      await file?.close();
    },
  };
}
