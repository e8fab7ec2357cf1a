import type { Logger } from 'pino';
import type { StateDir } from '../state/files.ts';
import { acceptSavedUsage, batchRows, sealBatch, USAGE_STATE_FILE, type UsageBatch } from './batch.ts';
import { USAGE_ERROR_ADVICE, UsageWriteError, type UsageErrorClass } from './errors.ts';
import type { UsageLedger } from './ledger.ts';
import { UncertainPush, type SharedUsage } from './shared-usage.ts';
import type { UsageSink } from './sinks.ts';

const RETRY_INITIAL_MS = 1_000;
/** Google's write quota is per minute: after a 429, wait most of a minute, doubling, jittered. */
const QUOTA_RETRY_INITIAL_MS = 30_000;
const QUOTA_RETRY_MAX_MS = 300_000;
/** At shutdown, how many times a failing flush is tried before the counts are saved (or logged). */
const FINAL_FLUSH_ATTEMPTS = 3;
const FINAL_FLUSH_ATTEMPTS_WITH_STATE = 2;
/**
 * With Redis, the holder seals a period this many flush intervals after it ended, so every
 * replica has pushed its last counts of it first (a replica running late still loses nothing:
 * its counts are sealed in the next flush, as a second row for the period).
 */
const SHARED_SEAL_DELAY_INTERVALS = 2;
const MAX_SPREAD_MS = 600_000;

export interface FlusherOptions {
  intervalMs: number;
  instance: string;
  log: Logger;
  now?: () => number;
  /** Jitter source in [0, 1). */
  random?: () => number;
  /**
   * Without Redis: how long after a period ends this flusher seals it. Spreads the replicas'
   * hourly appends over several minutes instead of one. Default: a random share of a sixth of
   * the period, at most 10 minutes.
   */
  spreadMs?: number;
  /** Where unwritten usage survives a restart; null keeps it in memory only. */
  state?: StateDir | null;
  shared?: SharedUsage | null;
}

export interface UsageStatus {
  pending_keys: number;
  pending_flushes: number;
  flush_failures: number;
  /** Class of the last failed write (see errors.ts), null once a write succeeds. */
  last_error: UsageErrorClass | null;
}

/**
 * Every interval: seals the periods that have closed into a batch with its own `flush_id`, and
 * appends every batch not yet written in one append. A failure keeps the batches (same ids, same
 * rows) and retries with jittered backoff; the open period and the batches are saved in
 * STATE_DIR so a restart resends them. With Redis, counts go to Redis and one holder writes.
 */
export class UsageFlusher {
  private timer: NodeJS.Timeout | null = null;
  private inflight: Promise<boolean> | null = null;
  private consecutiveFailures = 0;
  private stopped = false;
  private pending: UsageBatch[] = [];
  /** Batches whose push to Redis may have landed: they go to Redis again, never to the sheet. */
  private redisOnly = new Set<string>();
  /** Batches tried on the sheet (an append may land unheard): the sheet again, never Redis. */
  private sheetsOnly = new Set<string>();
  private savedVersion = -1;
  private pendingChanged = false;
  private readonly now: () => number;
  private readonly spreadMs: number;
  failures = 0;
  flushes = 0;
  lastError: UsageErrorClass | null = null;
  /** When the last flush failed: how long until it is tried again. */
  lastRetryMs: number | null = null;
  /** Told of every flush that wrote or failed (metrics). */
  onResult: (ok: boolean) => void = () => undefined;

  constructor(
    private readonly ledger: UsageLedger,
    private readonly sink: UsageSink,
    private readonly opts: FlusherOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.spreadMs = opts.spreadMs ?? Math.floor((opts.random ?? Math.random)() * Math.min(ledger.periodMs / 6, MAX_SPREAD_MS));
  }

  /** Loads what a previous run left in STATE_DIR: its open counts and its unwritten flushes. */
  async init(): Promise<void> {
    const saved = await this.opts.state?.read(USAGE_STATE_FILE, acceptSavedUsage);
    if (!saved) return;
    this.ledger.restore(saved.value.open);
    this.pending.push(...saved.value.pending);
    for (const id of saved.value.redisOnly ?? []) this.redisOnly.add(id);
    // Whatever else was saved may have been tried on the sheet: it goes there, never to Redis.
    for (const b of saved.value.pending) if (!this.redisOnly.has(b.flushId)) this.sheetsOnly.add(b.flushId);
    const keys = saved.value.open.length + saved.value.pending.reduce((n, b) => n + b.entries.length, 0);
    if (keys) this.opts.log.info({ pending_flushes: saved.value.pending.length, entries: keys }, 'usage from before the restart loaded from STATE_DIR; it is re-sent with its flush_id');
    this.savedVersion = this.ledger.version;
  }

  start(): void {
    this.schedule(this.pending.length ? 0 : this.opts.intervalMs);
  }

  /** The periodic flush: closed periods only (with Redis: everything goes to Redis). Joins one in flight. */
  tick(): Promise<boolean> {
    return this.join(false);
  }

  /** Flushes everything counted so far, the open period too. Resolves true when it was all handed over. */
  flush(): Promise<boolean> {
    return this.join(true);
  }

  private join(all: boolean): Promise<boolean> {
    this.inflight ??= this.run(all).finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  /** Stops the timer and flushes what is left, a few times; what still fails is saved (or logged). */
  async stop(): Promise<boolean> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.inflight) await this.inflight;
    const attempts = this.opts.state ? FINAL_FLUSH_ATTEMPTS_WITH_STATE : FINAL_FLUSH_ATTEMPTS;
    let ok = false;
    for (let attempt = 1; attempt <= attempts && !ok; attempt += 1) {
      ok = await this.flush();
      if (!ok && attempt < attempts) await new Promise((r) => setTimeout(r, (RETRY_INITIAL_MS / 2) * attempt));
    }
    await this.opts.shared?.close().catch(() => undefined);
    if (ok) return true;
    if (this.pending.length === 0 && this.ledger.pendingKeys === 0) {
      // Handed to Redis; only the shared write failed: the record waits there for the next holder.
      this.opts.log.warn('usage is in Redis, not yet in the sheet: the next replica holding the flush lock writes it');
      return true;
    }
    if (this.opts.state) {
      this.opts.log.warn({ pending_flushes: this.pending.length, pending_keys: this.pendingKeys }, 'usage could not be written before exit; it is saved in STATE_DIR and re-sent after a restart');
    } else {
      this.opts.log.error({ unflushed: this.pending.flatMap((b) => batchRows(b)) }, 'usage could not be written before exit (STATE_DIR=none); the counts are in this log line');
    }
    return false;
  }

  private async run(all: boolean): Promise<boolean> {
    const now = this.now();
    const shared = this.opts.shared?.usable() ? this.opts.shared : null;
    // With Redis every count goes there at once (the holder writes the hour when it closes).
    const entries = all || shared ? this.ledger.take() : this.ledger.take(this.ledger.periodOf(now - this.spreadMs));
    if (entries.length) {
      this.pending.push(sealBatch(entries, this.opts.instance, now));
      this.pendingChanged = true;
    }
    let ok = true;
    let handed = false;
    if (shared) {
      handed = await this.pushAll(shared);
      // Replicas push once an interval: a period is sealed once every replica has pushed its end.
      const sealBefore = all ? Infinity : this.ledger.periodOf(now - SHARED_SEAL_DELAY_INTERVALS * this.opts.intervalMs);
      if (handed) ok = await this.holderFlush(shared, sealBefore, now);
    }
    ok = (await this.writeLocal(handed)) && ok;
    await this.save();
    if (ok) this.lastRetryMs = null;
    else this.lastRetryMs = this.retryDelay();
    if (!this.stopped) this.schedule(this.lastRetryMs ?? this.opts.intervalMs);
    return ok && this.pending.length === 0;
  }

  /** Hands this replica's batches to Redis. False when Redis failed (the rest go to the sheet). */
  private async pushAll(shared: SharedUsage): Promise<boolean> {
    for (const batch of this.pending.filter((b) => !this.sheetsOnly.has(b.flushId))) {
      try {
        await shared.push(batch);
      } catch (err) {
        if (err instanceof UncertainPush) {
          this.redisOnly.add(batch.flushId);
          this.pendingChanged = true;
        }
        this.opts.log.warn({ error: (err as Error).message }, 'usage could not be added in Redis; this replica writes its own usage until Redis is back');
        return false;
      }
      this.pending = this.pending.filter((b) => b !== batch);
      this.redisOnly.delete(batch.flushId);
      this.pendingChanged = true;
    }
    return true;
  }

  private async holderFlush(shared: SharedUsage, sealBefore: number, now: number): Promise<boolean> {
    try {
      const result = await shared.holderFlush(sealBefore, now, this.opts.instance, (batch) => this.append([batch]));
      return result !== 'written' || this.succeeded(1);
    } catch (err) {
      if (err instanceof UsageWriteError) return this.failed(err);
      // Redis failed between steps: the record (if sealed) stays in Redis for the next holder.
      this.opts.log.warn({ error: (err as Error).message }, 'shared usage flush failed in Redis; it is retried');
      return false;
    }
  }

  /**
   * Appends, in one append, the batches already tried on the sheet, and when Redis did not take
   * this replica's counts (`handed` false) every other batch but those promised to Redis.
   */
  private async writeLocal(handed: boolean): Promise<boolean> {
    const batches = this.pending.filter((b) => !this.redisOnly.has(b.flushId) && (!handed || this.sheetsOnly.has(b.flushId)));
    if (batches.length === 0) return true;
    for (const b of batches) this.sheetsOnly.add(b.flushId);
    try {
      await this.append(batches);
    } catch (err) {
      return this.failed(err);
    }
    this.pending = this.pending.filter((b) => !batches.includes(b));
    for (const b of batches) this.sheetsOnly.delete(b.flushId);
    this.pendingChanged = true;
    return this.succeeded(batches.length);
  }

  private async append(batches: UsageBatch[]): Promise<void> {
    const rows = batches.flatMap((b) => batchRows(b));
    if (rows.length) await this.sink.append(rows);
    this.opts.log.info({ rows: rows.length, flushes: batches.map((b) => b.flushId), sink: this.sink.description }, 'usage flushed');
  }

  private succeeded(batches: number): true {
    this.flushes += batches;
    this.consecutiveFailures = 0;
    this.lastError = null;
    this.onResult(true);
    return true;
  }

  private failed(err: unknown): false {
    const errorClass: UsageErrorClass = err instanceof UsageWriteError ? err.errorClass : 'sheets_error';
    const detail = err instanceof UsageWriteError ? err.detail : (err as Error).message;
    this.lastError = errorClass;
    this.failures += 1;
    this.consecutiveFailures += 1;
    const level = errorClass === 'sheets_unreachable' ? 'warn' : 'error';
    this.opts.log[level](
      { error_class: errorClass, error: detail, pending_flushes: this.pending.length, pending_keys: this.pendingKeys, what_to_do: USAGE_ERROR_ADVICE[errorClass] },
      'usage flush failed; counts kept',
    );
    this.onResult(false);
    return false;
  }

  /** Doubling from 1 s up to the interval (from 30 s up to 5 min after a 429), times a jitter of 0.5–1.5. */
  private retryDelay(): number {
    const quota = this.lastError === 'sheets_quota_exceeded';
    const base = quota ? QUOTA_RETRY_INITIAL_MS : RETRY_INITIAL_MS;
    const cap = quota ? QUOTA_RETRY_MAX_MS : this.opts.intervalMs;
    const delay = Math.min(cap, base * 2 ** Math.max(0, this.consecutiveFailures - 1));
    return Math.round(delay * (0.5 + (this.opts.random ?? Math.random)()));
  }

  /** Saves the open counts and unwritten batches when they changed since the last save. */
  private async save(): Promise<void> {
    const state = this.opts.state;
    if (!state || (this.ledger.version === this.savedVersion && !this.pendingChanged)) return;
    const version = this.ledger.version;
    try {
      await state.write(USAGE_STATE_FILE, { open: this.ledger.snapshot(), pending: this.pending, redisOnly: [...this.redisOnly] });
      this.savedVersion = version;
      this.pendingChanged = false;
    } catch (err) {
      this.opts.log.warn({ code: (err as NodeJS.ErrnoException).code }, 'usage state could not be saved in STATE_DIR; counts stay in memory');
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.tick();
    }, ms);
    this.timer.unref();
  }

  get pendingKeys(): number {
    const keys = new Set(this.ledger.snapshot().map((e) => e.keyId));
    for (const b of this.pending) for (const e of b.entries) keys.add(e.keyId);
    return keys.size;
  }

  status(): UsageStatus {
    return { pending_keys: this.pendingKeys, pending_flushes: this.pending.length, flush_failures: this.failures, last_error: this.lastError };
  }
}
