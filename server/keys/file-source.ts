import type { Logger } from 'pino';
import { readCsvTable } from './csv-table.ts';
import { SourceError } from './sheets-source.ts';
import type { KeySource, RawKeyTable } from './types.ts';

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

  async load(): Promise<RawKeyTable> {
    this.log.debug({ path: this.path }, 'reading key file');
    try {
      return { values: await readCsvTable(this.path), timeZone: this.timeZone };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code ? `${e.code}` : e.message;
      throw new SourceError(`cannot read key file ${this.path}: ${why}`);
    }
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
