import type { Logger } from 'pino';
import { describeGoogleError } from '../google/errors.ts';
import { tabRange } from '../google/range.ts';
import type { SheetsApi } from '../google/sheets.ts';
import type { KeySource, RawKeyTable } from './types.ts';

/** Google answers a read within seconds; beyond this the load counts as failed and is retried. */
export const SHEETS_REQUEST_TIMEOUT_MS = 15_000;
/** Options for every Sheets call: bounded, and no retries of gaxios's own (callers back off). */
export const SHEETS_CALL_OPTIONS = { timeout: SHEETS_REQUEST_TIMEOUT_MS, retry: false };

export class SourceError extends Error {
  /**
   * Whether the source could not be reached (network error, timeout, 5xx, 429), as opposed to a
   * source that answered with a refusal (403 not shared, 404, no such tab): only unreachability
   * lets a gateway start on its last key-set snapshot.
   */
  readonly unreachable: boolean;

  constructor(message: string, readonly status: number | null = null, unreachable?: boolean) {
    super(message);
    this.unreachable = unreachable ?? false;
  }
}

/** No answer at all, a timeout, a server error or throttling: the source may be fine a moment later. */
export function isUnreachableStatus(status: number | null): boolean {
  return status === null || status >= 500 || status === 429;
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
      if (!titles.includes(this.tab)) throw new SourceError(`the spreadsheet has no tab named "${this.tab}"`);
      const timeZone = meta.data.properties?.timeZone ?? 'UTC';
      const rows = (values.data.values ?? []) as unknown[][];
      this.log.debug({ rows: rows.length, timeZone }, 'sheets query answered');
      return { values: rows, timeZone };
    } catch (err) {
      if (err instanceof SourceError) throw err;
      const { status, message } = describeGoogleError(err);
      if (status === 400 && /Unable to parse range/i.test(message)) {
        throw new SourceError(`the spreadsheet has no tab named "${this.tab}"`, status);
      }
      throw new SourceError(message, status, isUnreachableStatus(status));
    }
  }
}
