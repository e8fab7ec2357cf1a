import type { Logger } from 'pino';
import { describeGoogleError } from '../google/errors.ts';
import { tabRange } from '../google/range.ts';
import type { SheetsApi } from '../google/sheets.ts';
import type { KeySource, RawKeyTable } from './types.ts';

/** Google answers a read within seconds; beyond this the load counts as failed and is retried. */
export const SHEETS_REQUEST_TIMEOUT_MS = 15_000;
/** Options for every Sheets call: bounded, and no retries of gaxios's own (callers back off). */
export const SHEETS_CALL_OPTIONS = { timeout: SHEETS_REQUEST_TIMEOUT_MS, retry: false };

/**
 * A key source that could not be read. `message` is for the log (it may name the sheet or the
 * file); `publicReason` is a short class and cause for the public `/auth/status`, naming no sheet
 * id, URL or path. `reachable` is false when the source never answered (a snapshot may stand in);
 * a source that answered with an error (not shared, no such sheet) is authoritative.
 */
export class SourceError extends Error {
  constructor(
    message: string,
    readonly status: number | null = null,
    readonly publicReason: string = 'key_source_error',
    readonly reachable: boolean = true,
  ) {
    super(message);
  }

  /** The source never answered: only then may a gateway start on its last key-set snapshot. */
  get unreachable(): boolean {
    return !this.reachable;
  }
}

/** Reads the keys tab and the spreadsheet's time zone through the Sheets API. */
export class SheetsKeySource implements KeySource {
  readonly kind = 'google_sheets' as const;
  readonly description: string;

  constructor(
    private readonly api: SheetsApi,
    private readonly spreadsheetId: string,
    private readonly tab: string,
    private readonly log: Logger,
  ) {
    this.description = `Google Sheet ${spreadsheetId}, tab ${tab}`;
  }

  async load(): Promise<RawKeyTable> {
    const options = SHEETS_CALL_OPTIONS;
    this.log.debug({ spreadsheet: this.spreadsheetId, tab: this.tab }, 'sheets query: spreadsheets.get + values.get');
    try {
      const [meta, values] = await Promise.all([
        this.api.spreadsheets.get(
          { spreadsheetId: this.spreadsheetId, fields: 'properties.timeZone,sheets.properties.title' },
          options,
        ),
        this.api.spreadsheets.values.get(
          {
            spreadsheetId: this.spreadsheetId,
            range: tabRange(this.tab),
            valueRenderOption: 'UNFORMATTED_VALUE',
            dateTimeRenderOption: 'SERIAL_NUMBER',
          },
          options,
        ),
      ]);
      const titles = (meta.data.sheets ?? []).map((s) => s.properties?.title);
      if (!titles.includes(this.tab)) throw new SourceError(`the spreadsheet has no tab named "${this.tab}"`, null, 'sheet_tab_missing');
      const timeZone = meta.data.properties?.timeZone ?? 'UTC';
      const rows = (values.data.values ?? []) as unknown[][];
      this.log.debug({ rows: rows.length, timeZone }, 'sheets query answered');
      return { values: rows, timeZone };
    } catch (err) {
      if (err instanceof SourceError) throw err;
      const { status, message, publicReason, reachable } = describeGoogleError(err);
      if (status === 400 && /Unable to parse range/i.test(message)) {
        throw new SourceError(`the spreadsheet has no tab named "${this.tab}"`, status, 'sheet_tab_missing');
      }
      throw new SourceError(message, status, publicReason, reachable);
    }
  }
}
