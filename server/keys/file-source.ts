import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { readCsvTable, streamCsvRows } from './csv-table.ts';
import { SourceError } from './sheets-source.ts';
import type { KeySource, RawKeyTable, RowStream } from './types.ts';

/** The embedded key source: a CSV with the same columns as the keys tab. */
export class FileKeySource implements KeySource {
  readonly kind = 'file' as const;
  readonly description: string;

  constructor(
    private readonly path: string,
    private readonly timeZone: string,
    private readonly log: Logger,
  ) {
    this.description = `key file ${path}`;
  }

  private permissionsChecked = false;

  /** Once, at the first read: a key file others can read gives its keys to every local user. */
  private async checkPermissions(): Promise<void> {
    if (this.permissionsChecked) return;
    this.permissionsChecked = true;
    const mode = await stat(this.path).then((s) => s.mode & 0o777, () => null);
    if (mode !== null && (mode & 0o044) !== 0) {
      this.log.warn(
        { path: this.path, mode: mode.toString(8).padStart(4, '0') },
        `KEYS_FILE is readable by other users; restrict it with: chmod 600 ${this.path}`,
      );
    }
  }

  async load(): Promise<RawKeyTable> {
    this.log.debug({ path: this.path }, 'reading key file');
    await this.checkPermissions();
    try {
      return { values: await readCsvTable(this.path), timeZone: this.timeZone };
    } catch (err) {
      throw this.readError(err);
    }
  }

  /** The gateway's read: rows go to the parser a read at a time (a 100,000-row file is 9 MB). */
  async openRows(): Promise<RowStream> {
    this.log.debug({ path: this.path }, 'reading key file');
    await this.checkPermissions();
    return {
      timeZone: this.timeZone,
      forEachBatch: async (onRows) => {
        // What the consumer throws (a bad header) passes through; read failures become SourceErrors.
        let consumerFailed = false;
        try {
          await streamCsvRows(this.path, (rows) => {
            try {
              onRows(rows);
            } catch (err) {
              consumerFailed = true;
              throw err;
            }
          });
        } catch (err) {
          throw consumerFailed ? err : this.readError(err);
        }
      },
    };
  }

  private readError(err: unknown): SourceError {
    const e = err as NodeJS.ErrnoException;
    const why = e?.code ? `${e.code}` : (e?.message ?? String(err));
    const code = typeof e?.code === 'string' && /^[A-Z0-9_]+$/.test(e.code) ? `: ${e.code}` : '';
    return new SourceError(`cannot read key file ${this.path}: ${why}`, null, `key_file_unreadable${code}`);
  }
}

/** Keys held in memory: tests and benchmarks. */
export class MemoryKeySource implements KeySource {
  readonly kind = 'memory' as const;
  readonly description = 'in-memory keys';
  loads = 0;
  failWith: Error | null = null;

  constructor(public table: RawKeyTable) {}

  async load(): Promise<RawKeyTable> {
    this.loads += 1;
    if (this.failWith) throw this.failWith;
    return this.table;
  }
}
