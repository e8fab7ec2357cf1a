import type { Logger } from 'pino';
import { totalsKey, type UsageHistory, type UsageTotals } from '../usage/history.ts';
import { currentPeriods, type PeriodWindow } from './period.ts';
import type { QuotaSeed } from './types.ts';

/** A request waits at most this long for the Usage record; past it, it is counted unseeded (and raised later). */
const WAIT_FOR_RECORD_MS = 5_000;
const RETRY_INITIAL_MS = 5_000;
const MIN_READ_INTERVAL_MS = 60_000;
const REFRESH_AFTER_MS = 15 * 60_000;
const RETRY_MAX_MS = 300_000;

interface Loaded {
  at: number;
  periods: ReadonlySet<string>;
  totals: UsageTotals;
}

/**
 * What the Usage record says each client spent in the current periods: read once, when a count
 * first needs it (and again when a new period begins), never per request. While the record
 * cannot be read, seeds are null: counting goes on, and the count is raised to the record once it
 * is read (QuotaCounts never lowers a count to a seed).
 */
export class QuotaSeeds {
  private loaded: Loaded | null = null;
  private loading: Promise<void> | null = null;
  private retryAt = 0;
  private failures = 0;

  constructor(
    private readonly history: UsageHistory | null,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts reading the record (at gateway start), so the first request need not wait for it. */
  prefetch(): void {
    void this.ensure(null);
  }

  /** The client's usage on record in `period`; {0, 0} when it spent nothing; null when unknown. */
  async seedFor(client: string, period: PeriodWindow): Promise<QuotaSeed | null> {
    if (!this.history) return { tokens: 0, requests: 0 };
    if (!this.covers(period)) await this.ensure(period);
    if (!this.covers(period)) return null;
    // Kept fresh in the background: a count Redis lost (a restart without persistence) is seeded
    // again from a record at most this old, plus what gateways have not flushed yet.
    if (this.now() - this.loaded!.at >= REFRESH_AFTER_MS) void this.ensure(null);
    const t = this.loaded!.totals.get(totalsKey(client, period.key));
    return { tokens: t?.tokens ?? 0, requests: t?.requests ?? 0 };
  }

  /** The record's periods are those current in the record's own zone: the key source's. */
  private covers(period: PeriodWindow): boolean {
    return this.loaded !== null && this.loaded.periods.has(period.key);
  }

  private async ensure(period: PeriodWindow | null): Promise<void> {
    if (!this.loading && this.now() >= this.retryAt) this.loading = this.load().finally(() => (this.loading = null));
    if (!this.loading || !period) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.loading, new Promise<void>((r) => (timer = setTimeout(r, WAIT_FOR_RECORD_MS)))]);
    clearTimeout(timer);
  }

  private async load(): Promise<void> {
    const history = this.history!;
    try {
      const { totals, timeZone } = await history.totals((z) => currentPeriods(this.now(), z));
      const periods = new Set(currentPeriods(this.now(), timeZone).map((p) => p.key));
      this.loaded = { at: this.now(), periods, totals };
      this.failures = 0;
      // A period the record does not cover yet (one that just began) is read again, at most this often.
      this.retryAt = this.now() + MIN_READ_INTERVAL_MS;
      this.log.info({ source: history.description, clients_periods: totals.size }, 'quota counts: usage record read');
    } catch (err) {
      this.failures += 1;
      const delay = Math.min(RETRY_MAX_MS, RETRY_INITIAL_MS * 2 ** (this.failures - 1));
      this.retryAt = this.now() + delay;
      this.log.warn({ source: history.description, error: (err as Error).message, retry_in_ms: delay }, 'quota counts: cannot read the usage record; counting on from what this gateway knows');
    }
  }
}
