// compactUsage(): rolls raw Usage rows older than the retention (script property
// USAGE_RETENTION_DAYS, default 7 days) into Usage (daily), one row per day and key id,
// then deletes exactly those raw rows. Each (flush_id, key_id) counts once, also across
// runs (the hashes of what was rolled up are kept with Refresh usage's state). A run
// compacts only rows Refresh usage has already counted, from the top of the tab: a
// contiguous block, so rows the gateway appends meanwhile (at the bottom) are never touched.
// Running it again finds nothing old enough and writes nothing.

import { cell, ensureColumns } from './columns.ts';
import { countValue } from './cells.ts';
import { addDays } from './periods.ts';
import { getOrInsertSheet } from './sheets.ts';
import { isTriggerEvent } from './trigger-run.ts';
import { COMPACT_HANDLER, noteTriggerRun } from './triggers.ts';
import { DAILY_HEADERS, DAILY_SHEET, PAIR_LENGTH, addCounts, rawReader, rowFingerprint, zeroCounts, type Counts } from './usage-rows.ts';
import { usageContext, withFreshUsage, type UsageContext } from './usage-ingest.ts';
import type { UsageState } from './usage-state.ts';
import { runAction, tell, tryGetUi } from './ui.ts';

type Sheet = GoogleAppsScript.Spreadsheet.Sheet;

/** Raw rows compacted per run, so one run stays well inside the 6-minute limit. */
export const MAX_COMPACT_ROWS = 20_000;
/** Rows read at a time: raw rows from the top, daily rows back from the bottom. */
const READ_CHUNK = 500;

interface Group {
  day: string;
  keyId: string;
  client: string;
  counts: Counts;
}

export interface CompactResult {
  rawRows: number;
  dailyRows: number;
  cutoff: string;
}

/**
 * The rows at the top of the raw tab whose day is before `cutoff`, grouped by day and key.
 * Read in chunks from the top, so a run reads little more than what it compacts.
 */
function collect(raw: Sheet, ctx: UsageContext, state: UsageState, cutoff: string) {
  const width = raw.getLastColumn();
  const limit = Math.min(state.cursor, MAX_COMPACT_ROWS, raw.getLastRow() - 1);
  if (limit < 1 || width < 1) return null;
  const header = raw.getRange(1, 1, 1, width).getValues()[0] ?? [];
  const read = rawReader(header, ctx.timeZone);
  const compacted = new Set<string>();
  for (const text of Object.values(state.compacted)) for (let i = 0; i < text.length; i += PAIR_LENGTH) compacted.add(text.slice(i, i + PAIR_LENGTH));
  const groups = new Map<string, Group>();
  const rows: unknown[][] = [];
  let taken = 0;
  let previousDay: string | null = null;
  let done = false;
  while (!done && rows.length < limit) {
    const chunk = raw.getRange(2 + rows.length, 1, Math.min(READ_CHUNK, limit - rows.length), width).getValues();
    rows.push(...chunk);
    for (const row of chunk) {
      const record = read(row);
      // A row without a readable time goes with the row above it (rows arrive in time order).
      const day: string | null = record.day ?? previousDay;
      if (day === null || day >= cutoff) { done = true; break; }
      previousDay = day;
      taken++;
      if (record.pair !== null) {
        if (compacted.has(record.pair)) continue; // a retried flush, already rolled up: delete only
        compacted.add(record.pair);
        state.compacted[ctx.today] = (state.compacted[ctx.today] ?? '') + record.pair;
      }
      const id = `${day}\u0000${record.keyId}`;
      const group = groups.get(id) ?? { day, keyId: record.keyId, client: '', counts: zeroCounts() };
      addCounts(group.counts, record.counts);
      if (record.client !== '') group.client = record.client;
      groups.set(id, group);
    }
  }
  if (taken === 0) return null;
  return { taken, groups: [...groups.values()], first: rowFingerprint(rows[0]!), last: rowFingerprint(rows[taken - 1]!) };
}

/** Adds the groups to Usage (daily): into the row of the same day and key when there is one, else as new rows. */
function mergeDaily(daily: Sheet, groups: Group[]): number {
  const { columns } = ensureColumns(daily, DAILY_HEADERS);
  const width = daily.getLastColumn();
  const lastRow = daily.getLastRow();
  const firstDay = groups.reduce((min, g) => (g.day < min ? g.day : min), groups[0]!.day);
  const dayOf = (row: readonly unknown[]) => {
    const v = cell(row, columns, 'day');
    return Object.prototype.toString.call(v) === '[object Date]' ? '' : String(v).trim();
  };
  // The tab grows in day order: read back from the bottom until a day before the first one merged.
  let start = lastRow + 1;
  let tail: unknown[][] = [];
  while (start > 2) {
    const from = Math.max(2, start - READ_CHUNK);
    const chunk = daily.getRange(from, 1, start - from, width).getValues();
    tail = [...chunk, ...tail];
    start = from;
    if (chunk.some((row) => { const d = dayOf(row); return d !== '' && d < firstDay; })) break;
  }
  const existing = new Map<string, number>();
  tail.forEach((row, i) => existing.set(`${dayOf(row)}\u0000${String(cell(row, columns, 'key_id')).trim().toLowerCase()}`, i));
  const added: unknown[][] = [];
  const countColumns = DAILY_HEADERS.slice(3).map((name) => columns.get(name) as number);
  for (const g of [...groups].sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : a.keyId < b.keyId ? -1 : 1))) {
    const at = existing.get(`${g.day}\u0000${g.keyId}`);
    if (at !== undefined) {
      const row = tail[at]!;
      countColumns.forEach((column, i) => { row[column - 1] = countValue(row[column - 1]) + g.counts[i]!; });
      continue;
    }
    const row: unknown[] = new Array<unknown>(width).fill('');
    const values: Record<string, unknown> = { day: g.day, key_id: g.keyId, client_name: g.client };
    DAILY_HEADERS.slice(3).forEach((name, i) => { values[name] = g.counts[i]; });
    for (const [name, value] of Object.entries(values)) row[(columns.get(name) as number) - 1] = value;
    added.push(row);
  }
  if (tail.length > 0 && added.length < groups.length) daily.getRange(start, 1, tail.length, width).setValues(tail);
  if (added.length > 0) {
    const need = lastRow + added.length - daily.getMaxRows();
    if (need > 0) daily.insertRowsAfter(daily.getMaxRows(), need);
    // Plain text, so Sheets keeps "2026-01-31" as the contract's YYYY-MM-DD rather than a date.
    daily.getRange(lastRow + 1, columns.get('day') as number, added.length, 1).setNumberFormat('@');
    daily.getRange(lastRow + 1, 1, added.length, width).setValues(added);
  }
  return added.length;
}

/** Compacts under the document lock; null when a trigger found the lock busy. */
export function compactUsageNow(quietIfBusy: boolean): CompactResult | null {
  const ctx = usageContext();
  const cutoff = addDays(ctx.today, -ctx.retentionDays);
  return withFreshUsage(ctx, quietIfBusy, ({ state }) => {
    const raw = ctx.ss.getSheetByName(ctx.config.usageSheet);
    const block = raw ? collect(raw, ctx, state, cutoff) : null;
    if (!raw || !block) return { rawRows: 0, dailyRows: 0, cutoff };
    // Before deleting, the block must still be where it was read (an admin may have sorted the tab).
    const width = raw.getLastColumn();
    const [first] = raw.getRange(2, 1, 1, width).getValues();
    const [last] = raw.getRange(block.taken + 1, 1, 1, width).getValues();
    if (rowFingerprint(first!) !== block.first || rowFingerprint(last!) !== block.last) {
      throw new Error('The Usage tab changed while it was being compacted; nothing was changed. Run Compact usage again.');
    }
    const { sheet: daily, created } = getOrInsertSheet(ctx.ss, DAILY_SHEET);
    if (created) ctx.ss.setActiveSheet(raw);
    const dailyRows = mergeDaily(daily, block.groups);
    // Sheets never deletes every non-frozen row: keep one empty row below when the block reaches the end.
    if (block.taken + 1 >= raw.getMaxRows()) raw.insertRowsAfter(raw.getMaxRows(), 1);
    raw.deleteRows(2, block.taken);
    state.cursor -= block.taken;
    if (state.cursor === 0) state.check = '';
    return { rawRows: block.taken, dailyRows, cutoff };
  });
}

/** Menu "Compact usage now" and the daily trigger. */
export function compactUsage(event?: unknown): void {
  runAction(() => {
    if (isTriggerEvent(event)) noteTriggerRun(COMPACT_HANDLER, event);
    const result = compactUsageNow(isTriggerEvent(event));
    const ui = isTriggerEvent(event) ? null : tryGetUi();
    if (!result || !ui) return;
    tell(ui, 'Compact usage', result.rawRows === 0
      ? `No usage rows from before ${result.cutoff} to compact.`
      : `${result.rawRows} usage rows from before ${result.cutoff} were rolled up into "${DAILY_SHEET}" (${result.dailyRows} new rows) and removed from the usage tab.`);
  });
}


