import { appendFile, open, readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { describeGoogleError } from '../google/errors.ts';
import { tabRange } from '../google/range.ts';
import type { SheetsApi } from '../google/sheets.ts';
import { csvText, writeFileAtomic } from '../keys/csv-table.ts';
import { SHEETS_REQUEST_TIMEOUT_MS } from '../keys/sheets-source.ts';
import { USAGE_COLUMNS } from './columns.ts';
import { classifySheetsFailure, UsageWriteError } from './errors.ts';

export type UsageRow = Record<(typeof USAGE_COLUMNS)[number], string | number>;

/** Where usage rows go. Throws a UsageWriteError on failure; the caller keeps the counts and retries. */
export interface UsageSink {
  readonly description: string;
  append(rows: readonly UsageRow[]): Promise<void>;
}

/** Column letters of a 1-based index (1 → A, 27 → AA). */
function columnLetters(n: number): string {
  let s = '';
  for (let i = n; i > 0; i = Math.floor((i - 1) / 26)) s = String.fromCharCode(65 + ((i - 1) % 26)) + s;
  return s;
}

/**
 * Appends usage rows to the Usage tab: one `values.append` per flush. On first use it reads the
 * header (to place columns by name), creates the tab when missing (sized to its columns: Google
 * counts every cell of the grid, used or not), and adds the columns a round-1 header lacks
 * (`flush_id`, `period_start`) at its end.
 */
export class SheetsUsageSink implements UsageSink {
  readonly description: string;
  private columns: string[] | null = null;
  private readonly options: { timeout: number; retry: boolean };

  constructor(
    private readonly api: SheetsApi,
    private readonly spreadsheetId: string,
    private readonly tab: string,
    private readonly log: Logger,
    opts: { timeoutMs?: number } = {},
  ) {
    this.description = `Google Sheet ${spreadsheetId}, tab ${tab}`;
    this.options = { timeout: opts.timeoutMs ?? SHEETS_REQUEST_TIMEOUT_MS, retry: false };
  }

  async append(rows: readonly UsageRow[]): Promise<void> {
    try {
      const columns = this.columns ?? (await this.prepare());
      this.log.debug({ rows: rows.length, tab: this.tab }, 'sheets query: values.append usage');
      await this.api.spreadsheets.values.append(
        {
          spreadsheetId: this.spreadsheetId,
          range: tabRange(this.tab, 'A1'),
          valueInputOption: 'RAW',
          insertDataOption: 'INSERT_ROWS',
          requestBody: { values: rows.map((row) => columns.map((c) => (c in row ? row[c as keyof UsageRow] : ''))) },
        },
        this.options,
      );
    } catch (err) {
      if (err instanceof UsageWriteError) throw err;
      this.columns = null; // the tab may have been renamed or rebuilt: look again next time
      const { status, message } = describeGoogleError(err);
      throw new UsageWriteError(classifySheetsFailure(status, message), message);
    }
  }

  /** Reads the header row; creates the tab and header if there are none; adds missing columns. */
  private async prepare(): Promise<string[]> {
    this.log.debug({ tab: this.tab }, 'sheets query: values.get usage header');
    let header: string[] = [];
    try {
      const got = await this.api.spreadsheets.values.get({ spreadsheetId: this.spreadsheetId, range: tabRange(this.tab, '1:1') }, this.options);
      header = ((got.data.values?.[0] ?? []) as unknown[]).map((h) => String(h).trim().toLowerCase());
    } catch (err) {
      const { status, message } = describeGoogleError(err);
      if (!(status === 400 && /Unable to parse range/i.test(message))) throw err;
      this.log.info({ tab: this.tab }, 'creating the usage tab');
      const gridProperties = { rowCount: 1, columnCount: USAGE_COLUMNS.length, frozenRowCount: 1 };
      await this.api.spreadsheets.batchUpdate(
        { spreadsheetId: this.spreadsheetId, requestBody: { requests: [{ addSheet: { properties: { title: this.tab, gridProperties } } }] } },
        this.options,
      );
    }
    while (header.length && header.at(-1) === '') header.pop();
    const missing = USAGE_COLUMNS.filter((c) => !header.includes(c));
    if (missing.length) {
      if (header.length) this.log.info({ tab: this.tab, added: missing }, 'adding missing columns to the usage tab header');
      const start = header.length + 1;
      await this.api.spreadsheets.values.update(
        {
          spreadsheetId: this.spreadsheetId,
          range: tabRange(this.tab, `${columnLetters(start)}1`),
          valueInputOption: 'RAW',
          requestBody: { values: [[...missing]] },
        },
        this.options,
      );
      header = [...header, ...missing];
    }
    this.columns = header;
    return header;
  }
}

/**
 * Appends usage rows to a CSV file (created with its header, mode 0600). A round-1 file whose
 * header lacks columns gets them added to its first line (rewritten atomically); its old rows
 * simply end early, which CSV readers take as blank cells.
 */
export class FileUsageSink implements UsageSink {
  readonly description: string;
  private columns: string[] | null = null;

  constructor(private readonly path: string) {
    this.description = `usage file ${path}`;
  }

  async append(rows: readonly UsageRow[]): Promise<void> {
    try {
      const columns = this.columns ?? (await this.prepare());
      await appendFile(this.path, csvText(rows.map((r) => columns.map((c) => (c in r ? r[c as keyof UsageRow] : '')))));
    } catch (err) {
      this.columns = null;
      throw new UsageWriteError('usage_file_unwritable', (err as NodeJS.ErrnoException).code ?? (err as Error).message);
    }
  }

  private async prepare(): Promise<string[]> {
    try {
      const handle = await open(this.path, 'wx', 0o600);
      await handle.writeFile(csvText([[...USAGE_COLUMNS]]));
      await handle.close();
      return (this.columns = [...USAGE_COLUMNS]);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const text = await readFile(this.path, 'utf8');
    const newline = text.indexOf('\n');
    const first = newline === -1 ? text : text.slice(0, newline);
    const header = first.replace(/\r$/, '').split(',').map((h) => h.trim().replace(/^"|"$/g, '').toLowerCase()).filter((h, i, all) => h !== '' || i < all.length - 1);
    const missing = USAGE_COLUMNS.filter((c) => !header.includes(c));
    if (missing.length === 0) return (this.columns = header);
    const columns = header.length === 1 && header[0] === '' ? [...USAGE_COLUMNS] : [...header, ...missing];
    const rest = newline === -1 ? '' : text.slice(newline + 1);
    await writeFileAtomic(this.path, csvText([columns]) + rest);
    return (this.columns = columns);
  }
}
