import type { Logger } from 'pino';
import type { UsageLedger, UsageEntry } from './ledger.ts';
import type { UsageRow, UsageSink } from './sinks.ts';

const RETRY_INITIAL_MS = 1_000;
/** At shutdown, how many times a failing flush is tried before the counts are logged instead. */
const FINAL_FLUSH_ATTEMPTS = 3;

export interface FlusherOptions {
  intervalMs: number;
  instance: string;
  log: Logger;
  now?: () => number;
}

/**
 * Writes the ledger to the sink every interval: one row per key that had activity. A failed
 * flush puts the counts back (merged with newer ones) and retries with backoff; nothing is lost.
 */
export class UsageFlusher {
  private timer: NodeJS.Timeout | null = null;
  private inflight: Promise<boolean> | null = null;
  private consecutiveFailures = 0;
  private stopped = false;
  failures = 0;
  flushes = 0;
  /** Told of every flush that wrote or failed (metrics). */
  onResult: (ok: boolean) => void = () => undefined;

  constructor(
    private readonly ledger: UsageLedger,
    private readonly sink: UsageSink,
    private readonly opts: FlusherOptions,
  ) {}

  start(): void {
    this.schedule(this.opts.intervalMs);
  }

  /** Flushes now (joining one in flight). Resolves true when everything counted was written. */
  flush(): Promise<boolean> {
    this.inflight ??= this.flushOnce().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  /** Stops the timer and flushes what is left, trying a few times. */
  async stop(): Promise<boolean> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.inflight) await this.inflight;
    for (let attempt = 1; attempt <= FINAL_FLUSH_ATTEMPTS; attempt += 1) {
      if (await this.flush()) return true;
      await new Promise((r) => setTimeout(r, RETRY_INITIAL_MS * attempt));
    }
    const left = this.ledger.snapshot();
    this.opts.log.error({ unflushed: left }, 'usage could not be written before exit; the counts are in this log line');
    return false;
  }

  private rows(entries: readonly UsageEntry[]): UsageRow[] {
    const timestamp = new Date((this.opts.now ?? Date.now)()).toISOString();
    return entries.map((e) => ({
      timestamp,
      key_id: e.keyId,
      client_name: e.clientName,
      requests: e.requests,
      rate_limited: e.rate_limited,
      prompt_tokens: e.prompt_tokens,
      completion_tokens: e.completion_tokens,
      instance: this.opts.instance,
    }));
  }

  private async flushOnce(): Promise<boolean> {
    const entries = this.ledger.take();
    if (entries.length === 0) return true;
    try {
      await this.sink.append(this.rows(entries));
      this.flushes += 1;
      this.consecutiveFailures = 0;
      this.opts.log.info({ rows: entries.length, sink: this.sink.description }, 'usage flushed');
      this.onResult(true);
      return true;
    } catch (err) {
      this.ledger.restore(entries);
      this.failures += 1;
      this.consecutiveFailures += 1;
      const retryMs = Math.min(this.opts.intervalMs, RETRY_INITIAL_MS * 2 ** (this.consecutiveFailures - 1));
      this.opts.log.error({ error: (err as Error).message, pending_keys: this.ledger.pendingKeys, retry_in_ms: retryMs }, 'usage flush failed; counts kept');
      if (!this.stopped) this.schedule(retryMs);
      this.onResult(false);
      return false;
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush().then((ok) => {
        if (ok) this.schedule(this.opts.intervalMs);
      });
    }, ms);
    this.timer.unref();
  }

  get pendingKeys(): number {
    return this.ledger.pendingKeys;
  }
}
