import { describeGoogleError } from '../google/errors.ts';
import { tabRange } from '../google/range.ts';
import type { SheetsApi } from '../google/sheets.ts';
import { KEY_COLUMNS } from '../keys/rows.ts';
import { SHEETS_CALL_OPTIONS, SheetsKeySource, SourceError } from '../keys/sheets-source.ts';
import { createLogger } from '../log.ts';
import { USAGE_COLUMNS } from '../usage/columns.ts';
import { headerNames, isBlankCell, missingColumns, positioned, rowFor } from './header.ts';
import { columnLetters, sheetsCell } from './sheets-cells.ts';
import { TableError, type ApplyResult, type InitResult, type KeyTable, type TableChange, type TableData } from './table.ts';

const CALL = SHEETS_CALL_OPTIONS;
const INPUT = 'USER_ENTERED';

/** One range of a values.update / values.batchUpdate. */
interface RangeWrite {
  range: string;
  values: Array<Array<string | number | boolean>>;
}

/** The keys tab of a Google Sheet, read through the gateway's own adapter and written with the Sheets API. */
export class SheetsKeyTable implements KeyTable {
  readonly kind = 'google_sheets' as const;
  readonly description: string;
  private readonly source: SheetsKeySource;

  constructor(
    private readonly api: SheetsApi,
    private readonly spreadsheetId: string,
    private readonly tab: string,
    private readonly usageTab: string,
    /** The service account's email, for the "share the sheet" hint. */
    private readonly account: string,
  ) {
    this.description = `Google Sheet ${spreadsheetId}, tab ${tab}`;
    this.source = new SheetsKeySource(api, spreadsheetId, tab, createLogger('silent'));
  }

  /** One line for any Sheets failure, with what to do about the usual ones. */
  private fail(err: unknown): TableError {
    if (err instanceof TableError) return err;
    const { status, message } = err instanceof SourceError ? { status: err.status, message: err.message } : describeGoogleError(err);
    let hint = '';
    if (status === 403) hint = ` — share the sheet with ${this.account} as Editor`;
    else if (status === 404) hint = ' — check GOOGLE_SHEET_ID';
    else if (status === 401) hint = ' — check GOOGLE_CREDENTIALS_PATH';
    else if (/no tab named/.test(message)) hint = '; create it with: npm run keys -- init';
    return new TableError(`${message}${hint}`);
  }

  async read(): Promise<TableData> {
    try {
      return await this.source.load();
    } catch (err) {
      throw this.fail(err);
    }
  }

  async apply(base: TableData, change: TableChange): Promise<ApplyResult> {
    const header = headerNames(base.values);
    const added = missingColumns(header, change);
    const columns = [...header, ...added];
    const zone = base.timeZone;
    const headerWrite: RangeWrite | null = added.length
      ? { range: tabRange(this.tab, `${columnLetters(header.length + 1)}1:${columnLetters(columns.length)}1`), values: [added] }
      : null;
    const cellWrites: RangeWrite[] = (change.updates ?? []).flatMap((u) =>
      positioned(columns, u.cells).map(([index, cell]) => ({
        range: tabRange(this.tab, `${columnLetters(index + 1)}${u.row}`),
        values: [[sheetsCell(cell, zone)]],
      })),
    );
    const appends = (change.appends ?? []).map((cells) => rowFor(columns, cells, (c) => sheetsCell(c, zone), '' as string | number | boolean));
    const appendedRows: number[] = [];
    try {
      let batch = cellWrites;
      if (appends.length) {
        // New rows go in by append, which never overwrites a row someone added meanwhile; the
        // columns they need must exist first.
        if (headerWrite) {
          await this.api.spreadsheets.values.update({ spreadsheetId: this.spreadsheetId, range: headerWrite.range, valueInputOption: 'RAW', requestBody: { values: headerWrite.values } }, CALL);
        }
        const res = await this.api.spreadsheets.values.append(
          { spreadsheetId: this.spreadsheetId, range: tabRange(this.tab, 'A1'), valueInputOption: INPUT, insertDataOption: 'INSERT_ROWS', requestBody: { values: appends } },
          CALL,
        );
        const first = /!\$?[A-Z]+\$?(\d+)/.exec(res.data.updates?.updatedRange ?? '')?.[1];
        if (first) appends.forEach((_, i) => appendedRows.push(Number(first) + i));
      } else if (headerWrite) {
        batch = [headerWrite, ...cellWrites];
      }
      if (batch.length) {
        await this.api.spreadsheets.values.batchUpdate({ spreadsheetId: this.spreadsheetId, requestBody: { valueInputOption: INPUT, data: batch } }, CALL);
      }
    } catch (err) {
      throw this.fail(err);
    }
    return { appendedRows, addedColumns: added };
  }

  async init(): Promise<InitResult> {
    try {
      return await this.initTabs();
    } catch (err) {
      throw this.fail(err);
    }
  }

  private async initTabs(): Promise<InitResult> {
    const id = this.spreadsheetId;
    const meta = await this.api.spreadsheets.get({ spreadsheetId: id, fields: 'sheets.properties.title' }, CALL);
    const titles = new Set((meta.data.sheets ?? []).map((s) => s.properties?.title));
    const tabs = [
      { title: this.tab, columns: KEY_COLUMNS as readonly string[], extend: true },
      { title: this.usageTab, columns: USAGE_COLUMNS as readonly string[], extend: false },
    ];
    const lines: string[] = [];
    const create = tabs.filter((t) => !titles.has(t.title));
    if (create.length) {
      await this.api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: create.map((t) => ({ addSheet: { properties: { title: t.title } } })) } }, CALL);
      for (const t of create) lines.push(`created tab ${t.title}`);
    }
    const got = await this.api.spreadsheets.values.batchGet({ spreadsheetId: id, ranges: tabs.map((t) => tabRange(t.title, '1:2')) }, CALL);
    const writes: RangeWrite[] = [];
    let changedKeys = false;
    tabs.forEach((t, i) => {
      const values = (got.data.valueRanges?.[i]?.values ?? []) as unknown[][];
      const header = headerNames(values);
      if (header.length === 0) {
        if ((values[1] ?? []).some((c) => !isBlankCell(c))) {
          throw new TableError(`tab ${t.title} has rows but no header in row 1; add one (${t.columns.join(', ')})`);
        }
        writes.push({ range: tabRange(t.title, `A1:${columnLetters(t.columns.length)}1`), values: [[...t.columns]] });
        lines.push(`tab ${t.title}: wrote header ${t.columns.join(', ')}`);
        changedKeys ||= t.extend;
        return;
      }
      const missing = t.columns.filter((c) => !header.includes(c));
      if (missing.length === 0) lines.push(`tab ${t.title}: already set up`);
      else if (!t.extend) lines.push(`tab ${t.title}: left as it is (its header lacks ${missing.join(', ')})`);
      else {
        const from = header.length + 1;
        writes.push({ range: tabRange(t.title, `${columnLetters(from)}1:${columnLetters(from + missing.length - 1)}1`), values: [missing] });
        lines.push(`tab ${t.title}: added columns ${missing.join(', ')}`);
        changedKeys = true;
      }
    });
    if (writes.length) {
      await this.api.spreadsheets.values.batchUpdate({ spreadsheetId: id, requestBody: { valueInputOption: 'RAW', data: writes } }, CALL);
    }
    return { lines, changedKeys };
  }
}
