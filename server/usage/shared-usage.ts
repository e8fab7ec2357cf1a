import type { UsageBatch } from './batch.ts';

/**
 * Counts shared through Redis (the adapter is shared.ts): replicas push what they counted, and
 * the one holding the flush lock appends for all. Redis failures are thrown.
 */
export interface SharedUsage {
  usable(): boolean;
  /** Adds a batch's counts in Redis, once per flushId. Throws UncertainPush when it may have landed. */
  push(batch: UsageBatch): Promise<void>;
  /**
   * When this replica holds (or can take) the flush lock: seals the periods before `sealBefore`
   * into a pending record (or takes the record a previous holder left), writes it, clears it.
   */
  holderFlush(sealBefore: number, nowMs: number, instance: string, write: (batch: UsageBatch) => Promise<void>): Promise<'not_holder' | 'empty' | 'written'>;
  /** Frees the lock when held and lets go of Redis (shutdown). */
  close(): Promise<void>;
}

/** A push whose outcome is unknown (a timeout): resend it to Redis only, never to Sheets too. */
export class UncertainPush extends Error {}
