import { DateTime } from 'luxon';
import type { Logger } from 'pino';
import { describeGoogleError } from '../google/errors.ts';
import { tabRange } from '../google/range.ts';
import type { SheetsApi } from '../google/sheets.ts';
import { streamCsvRows } from '../keys/csv-table.ts';
import { SHEETS_CALL_OPTIONS, SourceError } from '../keys/sheets-source.ts';
import type { PeriodWindow } from '../quota/period.ts';

/** The tab Apps Script `compactUsage()` rolls old Usage rows into, one row per day and key. */
export const DAILY_USAGE_TAB = 'Usage (daily)';

export interface UsageTotal {
  tokens: number;
  requests: number;
}

/** Usage on record per client (trimmed client_name) and period, for the periods asked. */
export type UsageTotals = ReadonlyMap<string, UsageTotal>;

export function totalsKey(client: string, periodKey: string): string {
  return `${periodKey}\u0000${client}`;
}

function columnsOf(header: unknown[] | undefined): Map<string, number> {
  const cols = new Map<string, number>();
  (header ?? []).forEach((cell, i) => {
    const name = String(cell ?? '').trim().toLowerCase();
    if (name && !cols.has(name)) cols.set(name, i);
  });
  return cols;
}

function count(value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : 0;
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

function text(value: unknown): string {
  return value === null || value === undefined ? '' : String(value).trim();
}

/** An instant from ISO text, or a sheet serial number (wall clock of `zone`). */
function instant(value: unknown, zone: string): number | null {
  if (typeof value === 'number' && Number.isFinite(value)) {
    const wall = DateTime.fromObject({ year: 1899, month: 12, day: 30 }, { zone: 'UTC' }).plus({ milliseconds: Math.round(value * 86_400_000) });
    return DateTime.fromObject({ year: wall.year, month: wall.month, day: wall.day, hour: wall.hour, minute: wall.minute, second: wall.second }, { zone }).toMillis();
  }
  const s = text(value);
  if (!s) return null;
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return DateTime.fromISO(s, { zone }).toMillis();
  const ms = DateTime.fromISO(s, { zone }).toMillis();
  return Number.isFinite(ms) ? ms : null;
}

/**
 * Sums usage rows into per-client totals for the given periods (all in one time zone), the way
 * every reader must count them: columns found by header name in any order; each (`flush_id`,
 * `key_id`) pair once, so a flush retried after a write that did succeed is not counted twice;
 * a row without `flush_id` once as it is. A raw row is placed by `period_start` (the hour it
 * covers), else `timestamp`. Daily rows (compacted days) are placed at the start of their day;
 * raw rows of a (day, key) that is already in the daily tab are skipped, so a compaction caught
 * half-way (daily row written, raw rows not yet deleted) is not counted twice.
 */
export class UsageTally {
  private readonly totals = new Map<string, UsageTotal>();
  private readonly seen = new Set<string>();
  private readonly compacted = new Set<string>();
  private readonly since: number;
  private readonly until: number;

  constructor(
    private readonly periods: readonly PeriodWindow[],
    private readonly zone: string,
  ) {
    this.since = Math.min(...periods.map((p) => p.startMs));
    this.until = Math.max(...periods.map((p) => p.endMs));
  }

  /** The `Usage (daily)` tab, header first; read it before the raw rows. */
  addDaily(rows: readonly unknown[][]): void {
    const cols = columnsOf(rows[0]);
    const at = (cells: unknown[], name: string): unknown => (cols.has(name) ? cells[cols.get(name)!] : undefined);
    for (const cells of rows.slice(1)) {
      if (!Array.isArray(cells)) continue;
      const start = instant(at(cells, 'day'), this.zone);
      if (start === null) continue;
      const day = DateTime.fromMillis(start, { zone: this.zone }).toISODate()!;
      const keyId = text(at(cells, 'key_id'));
      this.compacted.add(`${day}\u0000${keyId}`);
      this.add(text(at(cells, 'client_name')), start, at(cells, 'prompt_tokens'), at(cells, 'completion_tokens'), at(cells, 'requests'));
    }
  }

  /** The `Usage` tab (or usage file), header first, in one or several batches. */
  addRaw(rows: readonly unknown[][], header?: unknown[]): void {
    const cols = columnsOf(header ?? rows[0]);
    const at = (cells: unknown[], name: string): unknown => (cols.has(name) ? cells[cols.get(name)!] : undefined);
    for (const cells of header ? rows : rows.slice(1)) {
      if (!Array.isArray(cells)) continue;
      const when = instant(at(cells, 'period_start'), this.zone) ?? instant(at(cells, 'timestamp'), this.zone);
      if (when === null || when < this.since || when >= this.until) continue;
      const keyId = text(at(cells, 'key_id'));
      const flushId = text(at(cells, 'flush_id'));
      if (flushId) {
        const pair = `${flushId}\u0000${keyId}`;
        if (this.seen.has(pair)) continue;
        this.seen.add(pair);
      }
      if (this.compacted.size && this.compacted.has(`${DateTime.fromMillis(when, { zone: this.zone }).toISODate()}\u0000${keyId}`)) continue;
      this.add(text(at(cells, 'client_name')), when, at(cells, 'prompt_tokens'), at(cells, 'completion_tokens'), at(cells, 'requests'));
    }
  }

  private add(client: string, when: number, prompt: unknown, completion: unknown, requests: unknown): void {
    for (const p of this.periods) {
      if (when < p.startMs || when >= p.endMs) continue;
      const key = totalsKey(client, p.key);
      let t = this.totals.get(key);
      if (!t) {
        t = { tokens: 0, requests: 0 };
        this.totals.set(key, t);
      }
      t.tokens += count(prompt) + count(completion);
      t.requests += count(requests);
    }
  }

  result(): UsageTotals {
    return this.totals;
  }
}

/** Where usage rows are read back from: the Usage tabs, or the usage file. Throws on I/O failure. */
export interface UsageHistory {
  readonly description: string;
  /** Totals for `periods`, and the zone the record's calendar days are in. */
  totals(periodsFor: (zone: string) => PeriodWindow[]): Promise<{ totals: UsageTotals; timeZone: string }>;
}

/** The Usage and `Usage (daily)` tabs, read in one batchGet (after one get for the zone and the tab names). */
export class SheetsUsageHistory implements UsageHistory {
  readonly description: string;

  constructor(
    private readonly api: SheetsApi,
    private readonly spreadsheetId: string,
    private readonly usageTab: string,
    private readonly log: Logger,
  ) {
    this.description = `Google Sheet ${spreadsheetId}, tabs ${usageTab} and ${DAILY_USAGE_TAB}`;
  }

  async totals(periodsFor: (zone: string) => PeriodWindow[]): Promise<{ totals: UsageTotals; timeZone: string }> {
    try {
      this.log.debug({ tab: this.usageTab }, 'sheets query: spreadsheets.get + values.batchGet usage history');
      const meta = await this.api.spreadsheets.get({ spreadsheetId: this.spreadsheetId, fields: 'properties.timeZone,sheets.properties.title' }, SHEETS_CALL_OPTIONS);
      const timeZone = meta.data.properties?.timeZone ?? 'UTC';
      const titles = new Set((meta.data.sheets ?? []).map((s) => s.properties?.title));
      const tally = new UsageTally(periodsFor(timeZone), timeZone);
      const tabs = [DAILY_USAGE_TAB, this.usageTab].filter((t) => titles.has(t));
      if (tabs.length) {
        const got = await this.api.spreadsheets.values.batchGet(
          { spreadsheetId: this.spreadsheetId, ranges: tabs.map((t) => tabRange(t)), valueRenderOption: 'UNFORMATTED_VALUE', dateTimeRenderOption: 'SERIAL_NUMBER' },
          SHEETS_CALL_OPTIONS,
        );
        got.data.valueRanges?.forEach((range, i) => {
          const rows = (range.values ?? []) as unknown[][];
          if (tabs[i] === DAILY_USAGE_TAB) tally.addDaily(rows);
          else tally.addRaw(rows);
        });
      }
      return { totals: tally.result(), timeZone };
    } catch (err) {
      const { status, message, publicReason, reachable } = describeGoogleError(err);
      throw new SourceError(message, status, publicReason, reachable);
    }
  }
}

/** The usage file beside KEYS_FILE (`keys.usage.csv`), streamed a read at a time. */
export class FileUsageHistory implements UsageHistory {
  readonly description: string;

  constructor(
    private readonly path: string,
    private readonly timeZone: string,
  ) {
    this.description = `usage file ${path}`;
  }

  async totals(periodsFor: (zone: string) => PeriodWindow[]): Promise<{ totals: UsageTotals; timeZone: string }> {
    const tally = new UsageTally(periodsFor(this.timeZone), this.timeZone);
    let header: unknown[] | undefined;
    try {
      await streamCsvRows(this.path, (rows) => {
        if (!header) {
          header = rows[0];
          rows = rows.slice(1);
        }
        tally.addRaw(rows, header);
      });
    } catch (err) {
      // No usage file yet: nothing was spent.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new SourceError(`cannot read usage file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return { totals: tally.result(), timeZone: this.timeZone };
  }
}
