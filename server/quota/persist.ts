import type { Logger } from 'pino';
import type { StateDir } from '../state/files.ts';
import type { MemoryQuotaCounts, PersistedEntry } from './memory.ts';

export const QUOTA_STATE_FILE = 'quota-counts.json';
/** Writes are gathered for this long: a busy gateway writes the file about once a second, not per request. */
export const QUOTA_WRITE_DEBOUNCE_MS = 1_000;

function isEntry(v: unknown): v is PersistedEntry {
  const e = v as PersistedEntry;
  return (
    typeof e === 'object' && e !== null && typeof e.client === 'string' && typeof e.period === 'string' &&
    [e.endMs, e.tokensSpent, e.requests].every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0) &&
    typeof e.seeded === 'boolean'
  );
}

function accept(value: unknown): PersistedEntry[] | null {
  return Array.isArray(value) && value.every(isEntry) ? value : null;
}

/**
 * Keeps the in-memory quota counts in STATE_DIR (without Redis, or while Redis is away): restored
 * at start, written a moment after they change and once more at shutdown. A lost last second of
 * counts is the price of not writing per request; the Usage record still bounds it.
 */
export class QuotaStateFile {
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: StateDir,
    private readonly counts: MemoryQuotaCounts,
    private readonly log: Logger,
  ) {}

  async restore(): Promise<void> {
    const file = await this.dir.read(QUOTA_STATE_FILE, accept);
    if (file) {
      this.counts.restore(file.value);
      this.log.info({ entries: file.value.length, written_at: file.writtenAt }, 'quota counts restored from STATE_DIR');
    }
    this.counts.onChange = () => this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.write();
    }, QUOTA_WRITE_DEBOUNCE_MS);
    this.timer.unref();
  }

  private write(): Promise<void> {
    this.writing = this.writing.then(() =>
      this.dir.write(QUOTA_STATE_FILE, this.counts.export()).catch((err: unknown) => {
        this.log.warn({ error: (err as Error).message }, 'cannot write quota counts to STATE_DIR');
      }),
    );
    return this.writing;
  }

  /** At shutdown, after the last request settled. */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.counts.onChange = null;
    await this.write();
  }
}
