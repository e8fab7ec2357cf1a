import type { PeriodWindow } from './period.ts';
import { exceeded, type QuotaCounts, type QuotaDecision, type QuotaLimits, type QuotaSeed, type QuotaUse } from './types.ts';

/** One client's count in one period, as kept in memory (and in STATE_DIR, reservations aside). */
export interface QuotaEntry {
  client: string;
  period: string;
  endMs: number;
  tokensSpent: number;
  tokensReserved: number;
  requests: number;
  /** Whether the Usage record was merged in yet (a count restored from STATE_DIR was not). */
  seeded: boolean;
}

/** What STATE_DIR keeps of an entry: reservations belong to requests that died with the process. */
export type PersistedEntry = Omit<QuotaEntry, 'tokensReserved'>;

function entryKey(client: string, period: string): string {
  return `${period}\u0000${client}`;
}

function useOf(e: QuotaEntry): QuotaUse {
  return { tokensSpent: e.tokensSpent, tokensReserved: e.tokensReserved, requests: e.requests };
}

/** Quota counts in this replica's memory; periods that ended are dropped. */
export class MemoryQuotaCounts implements QuotaCounts {
  private readonly entries = new Map<string, QuotaEntry>();
  /** Told after every change (the STATE_DIR writer debounces it). */
  onChange: (() => void) | null = null;

  constructor(private readonly now: () => number = Date.now) {}

  admitSync(client: string, period: PeriodWindow, limits: QuotaLimits, reserve: number, seed: QuotaSeed | null): QuotaDecision {
    const key = entryKey(client, period.key);
    let e = this.entries.get(key);
    if (!e) {
      this.sweep();
      e = { client, period: period.key, endMs: period.endMs, tokensSpent: 0, tokensReserved: 0, requests: 0, seeded: false };
      this.entries.set(key, e);
    }
    if (seed && !e.seeded) {
      e.tokensSpent = Math.max(e.tokensSpent, seed.tokens);
      e.requests = Math.max(e.requests, seed.requests);
      e.seeded = true;
    }
    const over = exceeded(e, limits, reserve);
    if (over) {
      this.onChange?.();
      return { allowed: false, exceeded: over, use: useOf(e) };
    }
    e.tokensReserved += reserve;
    e.requests += 1;
    this.onChange?.();
    return { allowed: true, use: useOf(e) };
  }

  async admit(client: string, period: PeriodWindow, limits: QuotaLimits, reserve: number, seed: QuotaSeed | null): Promise<QuotaDecision> {
    return this.admitSync(client, period, limits, reserve, seed);
  }

  async settle(client: string, period: PeriodWindow, reserved: number, spentTokens: number, served: boolean): Promise<void> {
    const e = this.entries.get(entryKey(client, period.key));
    if (!e) return; // the period ended meanwhile
    e.tokensReserved = Math.max(0, e.tokensReserved - reserved);
    e.tokensSpent += spentTokens;
    if (!served) e.requests = Math.max(0, e.requests - 1);
    this.onChange?.();
  }

  async peek(client: string, period: PeriodWindow): Promise<QuotaUse | null> {
    const e = this.entries.get(entryKey(client, period.key));
    return e ? useOf(e) : null;
  }

  /** Counts worth keeping across a restart: the periods not over yet. */
  export(): PersistedEntry[] {
    const now = this.now();
    const out: PersistedEntry[] = [];
    for (const e of this.entries.values()) {
      if (e.endMs > now) out.push({ client: e.client, period: e.period, endMs: e.endMs, tokensSpent: e.tokensSpent, requests: e.requests, seeded: e.seeded });
    }
    return out;
  }

  /**
   * Counts restored from STATE_DIR. They are this gateway's own and exact, but other replicas may
   * have spent meanwhile, so they are still raised to the Usage record once it is read.
   */
  restore(entries: readonly PersistedEntry[]): void {
    const now = this.now();
    for (const p of entries) {
      if (p.endMs <= now) continue;
      this.entries.set(entryKey(p.client, p.period), { ...p, tokensReserved: 0, seeded: false });
    }
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, e] of this.entries) if (e.endMs <= now) this.entries.delete(key);
  }

  async close(): Promise<void> {}
}
