import NodeCache from 'node-cache';
import type { Logger } from 'pino';
import { SourceError } from './sheets-source.ts';
import { HeaderError, KeyRowParser, parseKeyRowsInSteps, ROWS_PER_STEP, toKeySet, type ParseResult } from './rows.ts';
import { SnapshotWriter, type KeySnapshot } from './snapshot.ts';
import type { KeyRecord, KeySet, KeySource } from './types.ts';

export const DEFAULT_CACHE_TTL_SECONDS = 300;
/** How often node-cache looks for an expired key set; bounds how late a timed reload starts. */
const CACHE_CHECK_PERIOD_SECONDS = 1;
const RETRY_INITIAL_MS = 1_000;
const RETRY_MAX_MS = 60_000;
const CACHE_ENTRY = 'keys';

export interface KeyStoreOptions {
  source: KeySource;
  ttlSeconds: number;
  defaultRateLimit: number;
  log: Logger;
  now?: () => number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** The last good key set in STATE_DIR: written after each load that changed it, served at a start while the source is unreachable. */
  snapshot?: KeySnapshot | null;
  /** A snapshot older than this (ms) is not served. */
  snapshotMaxAgeMs?: number;
}

export interface KeyStoreStatus {
  keysLoaded: number;
  rowsRejected: number;
  lastRefreshAt: string | null;
  stale: boolean;
  lastError: string | null;
  loads: number;
  failures: number;
  /** When the snapshot being served was loaded from the source; null when not serving one. */
  snapshotAt: string | null;
}

/**
 * Reads and parses the source's rows without stalling traffic, reusing the previous key set's
 * records where rows are unchanged. A source that streams (the key file) hands over a read at a
 * time, and the whole table never exists; a whole table (the Sheets API's answer) is parsed in
 * steps of ROWS_PER_STEP rows, letting requests run between them. The previous index belongs to
 * the store, so a small change is patched into it (in one synchronous step) rather than copied.
 */
async function loadAndParse(source: KeySource, defaultRateLimit: number, previous: ReadonlyMap<string, KeyRecord> | null): Promise<{ parsed: ParseResult; timeZone: string }> {
  if (source.openRows) {
    const stream = await source.openRows();
    const parser = new KeyRowParser({ timeZone: stream.timeZone, defaultRateLimit }, previous, true);
    await stream.forEachBatch((rows) => {
      for (const row of rows) parser.push(row);
    });
    return { parsed: await runWithoutStalling(parser.finishInSteps()), timeZone: stream.timeZone };
  }
  const table = await source.load();
  const parsed = await runWithoutStalling(parseKeyRowsInSteps(table.values, { timeZone: table.timeZone, defaultRateLimit }, ROWS_PER_STEP, previous, true));
  return { parsed, timeZone: table.timeZone };
}

/** Runs a stepped parse, letting requests run between its steps. */
async function runWithoutStalling(steps: Generator<void, ParseResult>): Promise<ParseResult> {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/**
 * The key set, cached in node-cache for the TTL and reloaded when it expires (on node-cache's
 * check timer, so an idle gateway still picks up a revoked key, or on the first request that
 * finds it expired). One load runs at a time. A failed load keeps the last good set (stale) and
 * retries with exponential backoff; requests never trigger loads of their own while one is due.
 */
export class KeyStore {
  private readonly cache: NodeCache;
  private readonly log: Logger;
  private readonly now: () => number;
  private current: KeySet | null = null;
  private inflight: Promise<KeySet> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private consecutiveFailures = 0;
  private lastError: string | null = null;
  private loads = 0;
  private failures = 0;
  private stopped = false;
  /** Set while serving the STATE_DIR snapshot (no load has succeeded since start). */
  private snapshotAt: number | null = null;
  private snapshotTried = false;
  private readonly snapshotWriter: SnapshotWriter | null;
  private readonly listeners: Array<(ok: boolean) => void> = [];

  constructor(private readonly opts: KeyStoreOptions) {
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.snapshotWriter = opts.snapshot ? new SnapshotWriter(opts.snapshot, opts.log) : null;
    this.cache = new NodeCache({
      stdTTL: opts.ttlSeconds,
      checkperiod: CACHE_CHECK_PERIOD_SECONDS,
      useClones: false,
      deleteOnExpire: true,
    });
    this.cache.on('expired', () => {
      this.log.debug('key cache expired: reloading');
      this.reloadInBackground();
    });
  }

  get sourceKind(): KeySource['kind'] {
    return this.opts.source.kind;
  }

  /** First load; failures are retried in the background, never thrown. */
  async start(): Promise<void> {
    await this.reload().catch(() => undefined);
  }

  /** The key set to authenticate against, or null before the first good load. Hot path. */
  keys(): KeySet | null {
    const cached = this.cache.get<KeySet>(CACHE_ENTRY);
    if (cached) {
      this.log.debug('key cache hit');
      return cached;
    }
    this.log.debug({ stale: this.current !== null }, 'key cache miss');
    this.reloadInBackground();
    return this.current;
  }

  /** Told of every load's result (metrics count reloads). */
  onLoadResult(listener: (ok: boolean) => void): void {
    this.listeners.push(listener);
  }

  /** Reloads now, joining a load already in flight. Throws when the load fails. */
  reload(): Promise<KeySet> {
    if (this.inflight) return this.inflight;
    this.clearRetry();
    this.inflight = this.loadOnce().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  status(): KeyStoreStatus {
    return {
      keysLoaded: this.current?.byHash.size ?? 0,
      rowsRejected: this.current?.rejected.length ?? 0,
      lastRefreshAt: this.current ? new Date(this.current.loadedAt).toISOString() : null,
      stale: this.current !== null && this.lastError !== null,
      lastError: this.lastError,
      loads: this.loads,
      failures: this.failures,
      snapshotAt: this.snapshotAt === null ? null : new Date(this.snapshotAt).toISOString(),
    };
  }

  stop(): void {
    this.stopped = true;
    this.clearRetry();
    this.snapshotWriter?.stop();
    this.cache.close();
  }

  private reloadInBackground(): void {
    if (this.stopped || this.inflight || this.retryTimer) return;
    this.reload().catch(() => undefined);
  }

  private async loadOnce(): Promise<KeySet> {
    const started = this.now();
    this.loads += 1;
    try {
      // A snapshot's index is not the source's: parse afresh rather than patch it.
      const previous = this.snapshotAt === null ? (this.current?.byHash ?? null) : null;
      const { parsed, timeZone } = await loadAndParse(this.opts.source, this.opts.defaultRateLimit, previous);
      const keys = toKeySet(parsed, this.now(), timeZone);
      for (const r of parsed.rejected) this.log.warn({ row: r.row, reason: r.reason }, 'key row rejected');
      if (this.snapshotAt !== null) this.log.info('key source reachable again: the snapshot is no longer served');
      this.snapshotAt = null;
      this.snapshotWriter?.offer(keys, parsed.reused);
      this.current = keys;
      this.lastError = null;
      this.consecutiveFailures = 0;
      if (!this.stopped) this.cache.set(CACHE_ENTRY, keys);
      this.log.info(
        { source: this.opts.source.description, keys_loaded: keys.byHash.size, keys_unchanged: parsed.reused, rows_rejected: parsed.rejected.length, ms: this.now() - started },
        'key set loaded',
      );
      for (const listener of this.listeners) listener(true);
      return keys;
    } catch (err) {
      this.failures += 1;
      this.consecutiveFailures += 1;
      this.lastError = publicReasonOf(err);
      const detail = err instanceof HeaderError ? `bad header: ${err.message}` : (err as Error).message;
      await this.fallBackOnSnapshot(err);
      const delay = this.retryDelay();
      this.log.error(
        { source: this.opts.source.description, error: detail, stale: this.current !== null, retry_in_ms: delay },
        this.current ? 'key reload failed: serving the last good key set' : 'key load failed: answering 503 until a load succeeds',
      );
      this.scheduleRetry(delay);
      for (const listener of this.listeners) listener(false);
      throw err;
    }
  }

  /** Settles once snapshot writes under way (stop() starts the last one) are done. */
  whenWritten(): Promise<void> {
    return this.snapshotWriter?.written() ?? Promise.resolve();
  }

  /**
   * Before any load succeeded: a source that cannot be reached lets the gateway serve its last
   * snapshot (when young enough); a source that answers with a refusal (not shared, no such
   * sheet, a bad header) is authoritative, and a snapshot already served is dropped.
   */
  private async fallBackOnSnapshot(err: unknown): Promise<void> {
    const snapshot = this.opts.snapshot;
    if (!snapshot) return;
    const unreachable = err instanceof SourceError && err.unreachable;
    if (!unreachable) {
      if (this.snapshotAt !== null) {
        this.log.error('the key source answers with a refusal: the snapshot is no longer served');
        this.current = null;
        this.snapshotAt = null;
      }
      return;
    }
    if (this.current !== null || this.snapshotTried) return;
    this.snapshotTried = true;
    const keys = await snapshot.load();
    if (!keys) return;
    const ageMs = this.now() - keys.loadedAt;
    const maxAgeMs = this.opts.snapshotMaxAgeMs ?? Infinity;
    if (ageMs > maxAgeMs) {
      this.log.warn({ age_seconds: Math.round(ageMs / 1000), max_age_seconds: Math.round(maxAgeMs / 1000) }, 'key-set snapshot is older than SNAPSHOT_MAX_AGE: not served');
      return;
    }
    this.current = keys;
    this.snapshotAt = keys.loadedAt;
    this.log.warn({ keys_loaded: keys.byHash.size, snapshot_at: new Date(keys.loadedAt).toISOString() }, 'key source unreachable at start: serving the key-set snapshot from STATE_DIR (stale)');
  }

  private retryDelay(): number {
    const initial = this.opts.retryInitialMs ?? RETRY_INITIAL_MS;
    const max = this.opts.retryMaxMs ?? RETRY_MAX_MS;
    const base = Math.min(max, initial * 2 ** (this.consecutiveFailures - 1));
    return Math.round(base * (0.8 + Math.random() * 0.4)); // jitter keeps replicas apart
  }

  private scheduleRetry(delay: number): void {
    if (this.stopped) return;
    this.clearRetry();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.reloadInBackground();
    }, delay);
    this.retryTimer.unref();
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }
}

/**
 * What `/auth/status` may say about a failed load: a short class and cause, never a sheet id, URL,
 * path or key (the log has the detail). A bad header names only the gateway's own column names.
 */
function publicReasonOf(err: unknown): string {
  if (err instanceof HeaderError) return `bad_header: ${err.message}`;
  if (err instanceof SourceError) return err.publicReason;
  return 'key_source_error';
}
