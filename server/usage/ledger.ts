import type { KeyRecord } from '../keys/types.ts';

export interface UsageCounts {
  requests: number;
  rate_limited: number;
  prompt_tokens: number;
  completion_tokens: number;
}

export interface UsageEntry extends UsageCounts {
  keyId: string;
  clientName: string;
  /** Start of the period (ms since the epoch) these counts fall in. */
  periodStart: number;
}

/** One hour: a key's row covers an hour, however often the gateway flushes. */
export const DEFAULT_USAGE_ROW_PERIOD_MS = 3_600_000;

export interface LedgerOptions {
  /** Length of the period one row covers. */
  periodMs?: number;
  now?: () => number;
}

/**
 * Usage per (period, key) not yet handed to a flush. Counts land in the period of the clock at
 * `add`; a flush takes the periods that have closed (or all of them at shutdown), so each key
 * gets one row per period per flusher, whatever the flush interval.
 */
export class UsageLedger {
  /** period start → key id → counts: no string built per request on the hot path. */
  private periods = new Map<number, Map<string, UsageEntry>>();
  readonly periodMs: number;
  private readonly now: () => number;
  /** Bumped by every change: tells the flusher whether the saved state is still current. */
  version = 0;

  constructor(opts: LedgerOptions = {}) {
    this.periodMs = opts.periodMs ?? DEFAULT_USAGE_ROW_PERIOD_MS;
    this.now = opts.now ?? Date.now;
  }

  periodOf(ms: number): number {
    return Math.floor(ms / this.periodMs) * this.periodMs;
  }

  add(key: Pick<KeyRecord, 'keyId' | 'clientName'>, delta: Partial<UsageCounts>): void {
    this.addAt(this.periodOf(this.now()), key, delta);
  }

  private addAt(periodStart: number, key: Pick<KeyRecord, 'keyId' | 'clientName'>, delta: Partial<UsageCounts>): void {
    let keys = this.periods.get(periodStart);
    if (!keys) {
      keys = new Map();
      this.periods.set(periodStart, keys);
    }
    let entry = keys.get(key.keyId);
    if (!entry) {
      entry = { keyId: key.keyId, clientName: key.clientName, periodStart, requests: 0, rate_limited: 0, prompt_tokens: 0, completion_tokens: 0 };
      keys.set(key.keyId, entry);
    }
    entry.clientName = key.clientName; // a renamed client shows its newest name
    entry.requests += delta.requests ?? 0;
    entry.rate_limited += delta.rate_limited ?? 0;
    entry.prompt_tokens += delta.prompt_tokens ?? 0;
    entry.completion_tokens += delta.completion_tokens ?? 0;
    this.version += 1;
  }

  /** Takes the entries of periods that started before `before` (all when omitted). */
  take(before = Infinity): UsageEntry[] {
    const taken: UsageEntry[] = [];
    for (const [periodStart, keys] of this.periods) {
      if (periodStart >= before) continue;
      taken.push(...keys.values());
      this.periods.delete(periodStart);
    }
    if (taken.length) this.version += 1;
    return taken;
  }

  /** Takes the periods that have closed by now. */
  takeClosed(): UsageEntry[] {
    return this.take(this.periodOf(this.now()));
  }

  /** Puts entries back in their own periods, adding them to whatever was counted since. */
  restore(entries: readonly UsageEntry[]): void {
    for (const e of entries) this.addAt(e.periodStart, { keyId: e.keyId, clientName: e.clientName }, e);
  }

  /** Distinct keys with counts not yet taken. */
  get pendingKeys(): number {
    const keys = new Set<string>();
    for (const period of this.periods.values()) for (const id of period.keys()) keys.add(id);
    return keys.size;
  }

  snapshot(): UsageEntry[] {
    const out: UsageEntry[] = [];
    for (const period of this.periods.values()) for (const e of period.values()) out.push({ ...e });
    return out;
  }
}
