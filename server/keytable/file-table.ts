import { DateTime } from 'luxon';
import { csvText, readCsvTable, writeFileAtomic } from '../keys/csv-table.ts';
import { KEY_COLUMNS } from '../keys/rows.ts';
import { USAGE_COLUMNS } from '../usage/columns.ts';
import { headerNames, isBlankCell, missingColumns, positioned } from './header.ts';
import { TableError, type ApplyResult, type CellInput, type InitResult, type KeyTable, type TableChange, type TableData } from './table.ts';

/** How the file holds a cell: dates as ISO 8601 (instants in UTC), booleans as TRUE/FALSE. */
export function fileCell(cell: CellInput): string {
  if (typeof cell === 'string') return cell;
  if (typeof cell === 'number') return String(cell);
  if (typeof cell === 'boolean') return cell ? 'TRUE' : 'FALSE';
  if ('day' in cell) return cell.day;
  return DateTime.fromMillis(cell.instant, { zone: 'utc' }).toISO({ suppressMilliseconds: true })!;
}

function errno(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.message.split('\n')[0]!;
}

/** `KEYS_FILE`: every write replaces the whole file atomically (temp file, fsync, rename), mode 0600. */
export class FileKeyTable implements KeyTable {
  readonly kind = 'file' as const;
  readonly description: string;

  constructor(
    private readonly path: string,
    private readonly usagePath: string,
    private readonly timeZone: string,
  ) {
    this.description = `key file ${path}`;
  }

  /** The file's rows, or null when it does not exist. */
  private async rows(path: string): Promise<string[][] | null> {
    try {
      return await readCsvTable(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new TableError(`cannot read ${path}: ${errno(err)}`);
    }
  }

  private async write(path: string, rows: string[][]): Promise<void> {
    try {
      await writeFileAtomic(path, csvText(rows));
    } catch (err) {
      throw new TableError(`cannot write ${path}: ${errno(err)} (the file was left as it was)`);
    }
  }

  private async existingRows(): Promise<string[][]> {
    const rows = await this.rows(this.path);
    if (rows === null) throw new TableError(`key file ${this.path} does not exist; create it with: npm run keys -- init`);
    return rows;
  }

  async read(): Promise<TableData> {
    return { values: await this.existingRows(), timeZone: this.timeZone };
  }

  async apply(base: TableData, change: TableChange): Promise<ApplyResult> {
    const rows = await this.existingRows();
    const header = headerNames(rows);
    // The file is read again just before the write; if someone rewrote its header meanwhile,
    // row positions from the earlier read cannot be trusted.
    if (header.join('\u0000') !== headerNames(base.values).join('\u0000')) {
      throw new TableError(`${this.path} changed while the command ran; run it again`);
    }
    const added = missingColumns(header, change);
    const columns = [...header, ...added];
    if (added.length) rows[0] = [...(rows[0] ?? []).slice(0, header.length), ...added];
    for (const update of change.updates ?? []) {
      const row = rows[update.row - 1];
      if (!row || update.row < 2) throw new TableError(`row ${update.row} is not in ${this.path}; run the command again`);
      for (const [index, cell] of positioned(columns, update.cells)) {
        while (row.length <= index) row.push('');
        row[index] = fileCell(cell);
      }
    }
    const appendedRows: number[] = [];
    for (const cells of change.appends ?? []) {
      const row = columns.map(() => '');
      for (const [index, cell] of positioned(columns, cells)) row[index] = fileCell(cell);
      rows.push(row);
      appendedRows.push(rows.length);
    }
    await this.write(this.path, rows);
    return { appendedRows, addedColumns: added };
  }

  async init(): Promise<InitResult> {
    const lines: string[] = [];
    const keys = await this.ensureHeader(this.path, KEY_COLUMNS, true);
    lines.push(`${keys.what} ${this.path}`);
    const usage = await this.ensureHeader(this.usagePath, USAGE_COLUMNS, false);
    lines.push(`${usage.what} ${this.usagePath}`);
    return { lines, changedKeys: keys.changed };
  }

  /** Creates `path` with `columns` when missing or empty; adds missing columns when `extend`. */
  private async ensureHeader(path: string, columns: readonly string[], extend: boolean): Promise<{ what: string; changed: boolean }> {
    const rows = await this.rows(path);
    const header = rows ? headerNames(rows) : [];
    if (header.length === 0) {
      if (rows && rows.slice(1).some((r) => r.some((c) => !isBlankCell(c)))) {
        throw new TableError(`${path} has rows but no header in its first line; add one (${columns.join(',')})`);
      }
      await this.write(path, [[...columns]]);
      return { what: `created (mode 0600, columns ${columns.join(', ')}):`, changed: true };
    }
    const missing = columns.filter((c) => !header.includes(c));
    if (missing.length === 0) return { what: 'already set up:', changed: false };
    if (!extend) return { what: `left as it is (its header lacks ${missing.join(', ')}):`, changed: false };
    rows![0] = [...rows![0]!.slice(0, header.length), ...missing];
    await this.write(path, rows!);
    return { what: `added columns ${missing.join(', ')} to`, changed: true };
  }
}
