import { appendFile, open } from 'node:fs/promises';
import type { Logger } from 'pino';
import { describeGoogleError } from '../google/errors.ts';
import { tabRange } from '../google/range.ts';
import type { SheetsApi } from '../google/sheets.ts';
import { csvText } from '../keys/csv-table.ts';
import { SHEETS_CALL_OPTIONS, SourceError } from '../keys/sheets-source.ts';
import { USAGE_COLUMNS } from './columns.ts';

export type UsageRow = Record<(typeof USAGE_COLUMNS)[number], string | number>;

/** Where usage rows go. Throws on failure; the caller keeps the counts and retries. */
export interface UsageSink {
  readonly description: string;
  append(rows: readonly UsageRow[]): Promise<void>;
}

/**
 * Appends usage rows to the Usage tab: one `values.append` per flush. On first use it reads the
 * header (to place columns by name) and creates the tab with its header when missing.
 */
export class SheetsUsageSink implements UsageSink {
  readonly description: string;
  private columns: string[] | null = null;

  constructor(
    private readonly api: SheetsApi,
    private readonly spreadsheetId: string,
    private readonly tab: string,
    private readonly log: Logger,
  ) {
    this.description = `Google Sheet ${spreadsheetId}, tab ${tab}`;
  }

  async append(rows: readonly UsageRow[]): Promise<void> {
    const options = SHEETS_CALL_OPTIONS;
    try {
      const columns = this.columns ?? (await this.prepare(options));
      this.log.debug({ rows: rows.length, tab: this.tab }, 'sheets query: values.append usage');
      await this.api.spreadsheets.values.append(
        {
          spreadsheetId: this.spreadsheetId,
          range: tabRange(this.tab, 'A1'),
          valueInputOption: 'RAW',
          insertDataOption: 'INSERT_ROWS',
          requestBody: { values: rows.map((row) => columns.map((c) => (c in row ? row[c as keyof UsageRow] : ''))) },
        },
        options,
      );
    } catch (err) {
      if (err instanceof SourceError) throw err;
      this.columns = null; // the tab may have been renamed or rebuilt: look again next time
      throw new SourceError(describeGoogleError(err).message);
    }
  }

  /** Reads the header row; creates the tab and header if there are none. */
  private async prepare(options: { timeout: number; retry: boolean }): Promise<string[]> {
    this.log.debug({ tab: this.tab }, 'sheets query: values.get usage header');
    let header: string[] = [];
    try {
      const got = await this.api.spreadsheets.values.get({ spreadsheetId: this.spreadsheetId, range: tabRange(this.tab, '1:1') }, options);
      header = ((got.data.values?.[0] ?? []) as unknown[]).map((h) => String(h).trim().toLowerCase());
    } catch (err) {
      const { status, message } = describeGoogleError(err);
      if (!(status === 400 && /Unable to parse range/i.test(message))) throw err;
      this.log.info({ tab: this.tab }, 'creating the usage tab');
      await this.api.spreadsheets.batchUpdate(
        { spreadsheetId: this.spreadsheetId, requestBody: { requests: [{ addSheet: { properties: { title: this.tab } } }] } },
        options,
      );
    }
    if (header.every((h) => h === '')) {
      await this.api.spreadsheets.values.update(
        { spreadsheetId: this.spreadsheetId, range: tabRange(this.tab, 'A1'), valueInputOption: 'RAW', requestBody: { values: [[...USAGE_COLUMNS]] } },
        options,
      );
      header = [...USAGE_COLUMNS];
    }
    const missing = USAGE_COLUMNS.filter((c) => !header.includes(c));
    if (missing.length) throw new SourceError(`the ${this.tab} tab's header lacks ${missing.join(', ')}`);
    this.columns = header;
    return header;
  }
}

/** Appends usage rows to a CSV file (created with its header, mode 0600). */
export class FileUsageSink implements UsageSink {
  readonly description: string;

  constructor(private readonly path: string) {
    this.description = `usage file ${path}`;
  }

  async append(rows: readonly UsageRow[]): Promise<void> {
    try {
      const handle = await open(this.path, 'wx', 0o600);
      await handle.writeFile(csvText([[...USAGE_COLUMNS]]));
      await handle.close();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    await appendFile(this.path, csvText(rows.map((r) => USAGE_COLUMNS.map((c) => r[c]))));
  }
}
