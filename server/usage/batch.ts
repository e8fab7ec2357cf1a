import { randomUUID } from 'node:crypto';
import type { UsageEntry } from './ledger.ts';
import type { UsageRow } from './sinks.ts';

/**
 * A flush, frozen: its id, when it was sealed, who sealed it, and its counts. Once sealed it never
 * changes, so every retry (after a timeout, a failure or a restart) sends the very same rows with
 * the same `flush_id`, and a reader that counts each (`flush_id`, `key_id`) once counts it once
 * even when an earlier try landed without the gateway hearing back.
 */
export interface UsageBatch {
  flushId: string;
  /** ISO time the batch was sealed: the rows' `timestamp`. */
  sealedAt: string;
  instance: string;
  entries: UsageEntry[];
}

/** Unique per flush of an instance, across restarts and replicas: random, not a counter. */
export function newFlushId(): string {
  return randomUUID();
}

export function sealBatch(entries: UsageEntry[], instance: string, nowMs: number): UsageBatch {
  return { flushId: newFlushId(), sealedAt: new Date(nowMs).toISOString(), instance, entries };
}

/**
 * The rows of a batch. A batch may cover several periods (a flush at shutdown takes the open one
 * too; a late tick or a Redis seal takes every closed one), so one key can have several rows in
 * it; readers count each (`flush_id`, `key_id`) pair once, so those rows get a `flush_id` each:
 * the batch's id and the period's start in seconds. Derived from the sealed batch, the same on
 * every retry, so a resent row still matches the one that landed.
 */
export function batchRows(batch: UsageBatch): UsageRow[] {
  const iso = new Map<number, string>(); // a batch covers a period or a few: format each once
  const periodIso = (ms: number): string => iso.get(ms) ?? iso.set(ms, new Date(ms).toISOString()).get(ms)!;
  const several = batch.entries.some((e) => e.periodStart !== batch.entries[0]!.periodStart);
  const flushIdOf = (e: UsageEntry): string => (several ? `${batch.flushId}.${Math.floor(e.periodStart / 1000)}` : batch.flushId);
  return batch.entries
    .filter((e) => e.requests || e.rate_limited || e.prompt_tokens || e.completion_tokens)
    .map((e) => ({
      timestamp: batch.sealedAt,
      key_id: e.keyId,
      client_name: e.clientName,
      requests: e.requests,
      rate_limited: e.rate_limited,
      prompt_tokens: e.prompt_tokens,
      completion_tokens: e.completion_tokens,
      instance: batch.instance,
      flush_id: flushIdOf(e),
      period_start: periodIso(e.periodStart),
    }));
}

const COUNT_FIELDS = ['requests', 'rate_limited', 'prompt_tokens', 'completion_tokens'] as const;
const count = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export function isEntry(v: unknown): v is UsageEntry {
  const e = v as Record<string, unknown>;
  return !!e && typeof e === 'object' && typeof e.keyId === 'string' && /^[0-9a-f]{16}$/.test(e.keyId)
    && typeof e.clientName === 'string' && count(e.periodStart) && COUNT_FIELDS.every((f) => count(e[f]));
}

export function isBatch(v: unknown): v is UsageBatch {
  const b = v as Record<string, unknown>;
  return !!b && typeof b === 'object' && typeof b.flushId === 'string' && b.flushId.length > 0 && b.flushId.length <= 100
    && typeof b.sealedAt === 'string' && !Number.isNaN(Date.parse(b.sealedAt)) && typeof b.instance === 'string'
    && Array.isArray(b.entries) && b.entries.every(isEntry);
}

/** What `STATE_DIR/usage.json` holds: counts of the open period, and sealed flushes not yet written. */
export interface SavedUsage {
  open: UsageEntry[];
  pending: UsageBatch[];
  /** Pending flushes whose push to Redis may have landed: they go to Redis again, never to the sheet. */
  redisOnly?: string[];
}

export const USAGE_STATE_FILE = 'usage.json';

/** Accepts a saved usage state only when every part of it has the right shape. */
export function acceptSavedUsage(v: unknown): SavedUsage | null {
  const s = v as Record<string, unknown>;
  if (!s || typeof s !== 'object' || !Array.isArray(s.open) || !Array.isArray(s.pending)) return null;
  if (!s.open.every(isEntry) || !s.pending.every(isBatch)) return null;
  const redisOnly = s.redisOnly ?? [];
  if (!Array.isArray(redisOnly) || !redisOnly.every((id) => typeof id === 'string')) return null;
  return { open: s.open, pending: s.pending, redisOnly };
}
