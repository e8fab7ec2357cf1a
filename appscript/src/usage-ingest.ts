// Incremental reading of usage (review item 6): the rows appended since the last run are
// read before the document lock is taken; under the lock the run checks that no other run
// saved in between (else it reads again, now under the lock), adds the rows to the saved
// totals, and saves. A run reads at most MAX_ROWS_PER_RUN raw rows, so a huge backlog is
// worked off over several runs instead of meeting Apps Script's 6-minute limit.

import { columnsOf } from './columns.ts';
import { settings, type Settings } from './config.ts';
import { addDays, dayFinder } from './periods.ts';
import { DAILY_SHEET, PAIR_LENGTH, addCounts, dailyReader, rawReader, rowFingerprint, zeroCounts, type UsageRecord } from './usage-rows.ts';
import { emptyState, loadState, readStamp, saveState, type StoredState, type UsageState } from './usage-state.ts';
import { underDocumentLock } from './trigger-run.ts';
import { UserError } from './ui.ts';

type Spreadsheet = GoogleAppsScript.Spreadsheet.Spreadsheet;

export const MAX_ROWS_PER_RUN = 30_000;
/** Days of per-day counts kept: a month's quota period and the dashboard's 30 days. */
export const DAYS_KEPT = 40;
/** How long after it was read a (flush_id, key_id) pair is remembered, beyond the retention. */
export const DEDUPE_MARGIN_DAYS = 7;
export const DEFAULT_RETENTION_DAYS = 7;

export interface UsageContext {
  ss: Spreadsheet;
  config: Settings;
  timeZone: string;
  now: number;
  today: string;
  retentionDays: number;
}

export interface Caught {
  state: UsageState;
  /** Raw rows not read yet because of the per-run bound. */
  behind: number;
  /** Raw rows read by this run. */
  read: number;
}

/** Script property USAGE_RETENTION_DAYS: whole days of raw rows compaction keeps (default 7). */
export function retentionDays(): number {
  const text = (PropertiesService.getScriptProperties().getProperty('USAGE_RETENTION_DAYS') ?? '').trim();
  if (text === '') return DEFAULT_RETENTION_DAYS;
  const days = Number(text);
  if (!Number.isInteger(days) || days < 1 || days > 3650) {
    throw new UserError(`Script property USAGE_RETENTION_DAYS must be a whole number of days from 1 to 3650, not "${text}".`);
  }
  return days;
}

export function usageContext(): UsageContext {
  const ss = SpreadsheetApp.getActiveSpreadsheet();
  const timeZone = ss.getSpreadsheetTimeZone();
  const now = Date.now();
  return { ss, config: settings(), timeZone, now, today: dayFinder(timeZone)(now), retentionDays: retentionDays() };
}

interface Batch {
  stored: StoredState;
  rebuild: boolean;
  raw: UsageRecord[];
  lastRawRow: unknown[] | null;
  daily: UsageRecord[];
  behind: number;
}

function readAll(sheet: GoogleAppsScript.Spreadsheet.Sheet | null, firstRow: number, maxRows: number): { header: unknown[]; rows: unknown[][]; lastRow: number } {
  const lastRow = sheet ? sheet.getLastRow() : 0;
  const width = sheet ? sheet.getLastColumn() : 0;
  if (!sheet || lastRow < 1 || width < 1) return { header: [], rows: [], lastRow: 0 };
  const header = sheet.getRange(1, 1, 1, width).getValues()[0] ?? [];
  const count = Math.min(lastRow - firstRow + 1, maxRows);
  const rows = count > 0 ? sheet.getRange(firstRow, 1, count, width).getValues() : [];
  if (rows.length > 0 && !columnsOf(header).has('key_id')) throw new UserError(`The "${sheet.getName()}" tab has no key_id column.`);
  return { header, rows, lastRow };
}

/** Reads what the saved state has not seen yet: the new raw rows, or everything when the state is missing or stale. */
function readBatch(ctx: UsageContext): Batch {
  const stored = loadState(ctx.ss);
  const raw = ctx.ss.getSheetByName(ctx.config.usageSheet);
  const state = stored.state;
  if (state && state.cursor > 0) {
    // Row cursor + 1 is the last row read; reading it again tells whether it is still there.
    const { header, rows, lastRow } = readAll(raw, state.cursor + 1, MAX_ROWS_PER_RUN + 1);
    const [first, ...fresh] = rows;
    if (first && rowFingerprint(first) === state.check) {
      const read = rawReader(header, ctx.timeZone);
      return { stored, rebuild: false, raw: fresh.map(read), lastRawRow: fresh[fresh.length - 1] ?? null, daily: [], behind: Math.max(lastRow - 1 - state.cursor - fresh.length, 0) };
    }
  }
  const { header, rows, lastRow } = readAll(raw, 2, MAX_ROWS_PER_RUN);
  const read = rawReader(header, ctx.timeZone);
  // With a state whose cursor is 0, nothing was read from the raw tab yet: the daily totals stand.
  const rebuild = !(state && state.cursor === 0);
  const dailyTab = rebuild ? readAll(ctx.ss.getSheetByName(DAILY_SHEET), 2, Number.MAX_SAFE_INTEGER) : null;
  const readDaily = dailyTab ? dailyReader(dailyTab.header, ctx.timeZone) : null;
  return {
    stored, rebuild, raw: rows.map(read), lastRawRow: rows[rows.length - 1] ?? null,
    daily: readDaily && dailyTab ? dailyTab.rows.map(readDaily) : [], behind: Math.max(lastRow - 1 - rows.length, 0),
  };
}

function hashSet(byDay: Record<string, string>): Set<string> {
  const set = new Set<string>();
  for (const text of Object.values(byDay)) for (let i = 0; i < text.length; i += PAIR_LENGTH) set.add(text.slice(i, i + PAIR_LENGTH));
  return set;
}

function prefixed(byDay: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(byDay).map(([day, text]) => [`c${day}`, text]));
}

function addRecord(state: UsageState, record: UsageRecord, firstDay: string): void {
  if (record.keyId === '') return;
  const totals = (state.keys[record.keyId] ??= { counts: zeroCounts(), last: 0, lastDay: '', client: '' });
  addCounts(totals.counts, record.counts);
  if (record.client !== '') totals.client = record.client;
  if (record.counts[0] > 0) {
    if (record.time !== null && record.time > totals.last) totals.last = record.time;
    if (record.day !== null && record.day > totals.lastDay) totals.lastDay = record.day;
  }
  if (record.day !== null && record.day >= firstDay) addCounts((state.days[record.day] ??= {})[record.keyId] ??= zeroCounts(), record.counts);
}

/** Drops what no reader needs any more: old per-day counts and old flush hashes. */
export function prune(state: UsageState, ctx: UsageContext): void {
  const firstDay = addDays(ctx.today, -DAYS_KEPT);
  const firstPairDay = addDays(ctx.today, -(ctx.retentionDays + DEDUPE_MARGIN_DAYS));
  for (const day of Object.keys(state.days)) if (day < firstDay) delete state.days[day];
  for (const part of [state.seen, state.compacted]) for (const day of Object.keys(part)) if (day < firstPairDay) delete part[day];
}

function applyBatch(batch: Batch, ctx: UsageContext): UsageState {
  const old = batch.stored.state;
  const state: UsageState = batch.rebuild || !old ? { ...emptyState(), compacted: old ? old.compacted : {} } : old;
  const firstDay = addDays(ctx.today, -DAYS_KEPT);
  for (const record of batch.daily) addRecord(state, record, firstDay);
  // Pairs already rolled into Usage (daily) count as seen too: after a re-read, a late retry of one is still a retry.
  const seen = hashSet({ ...state.seen, ...prefixed(state.compacted) });
  for (const record of batch.raw) {
    if (record.pair !== null) {
      if (seen.has(record.pair)) continue; // a retried flush: counted once
      seen.add(record.pair);
      // Kept by the day it was read: a retry comes some time after the first write, whatever hour it covers.
      state.seen[ctx.today] = (state.seen[ctx.today] ?? '') + record.pair;
    }
    addRecord(state, record, firstDay);
  }
  state.cursor = (batch.rebuild ? 0 : state.cursor) + batch.raw.length;
  if (batch.lastRawRow) state.check = rowFingerprint(batch.lastRawRow);
  else if (state.cursor === 0) state.check = '';
  prune(state, ctx);
  return state;
}

/**
 * Brings the usage totals up to date, then runs `work` under the document lock with them.
 * `work` may change the state (compaction does); it is saved afterwards. With `quietIfBusy`
 * (a trigger), a busy lock ends the run quietly and returns null.
 */
export function withFreshUsage<T>(ctx: UsageContext, quietIfBusy: boolean, work: (caught: Caught) => T): T | null {
  let batch = readBatch(ctx); // outside the lock: the long part
  return underDocumentLock(quietIfBusy, () => {
    if (readStamp() !== batch.stored.stamp) batch = readBatch(ctx); // another run saved meanwhile
    const state = applyBatch(batch, ctx);
    const result = work({ state, behind: batch.behind, read: batch.raw.length });
    saveState(ctx.ss, state, batch.stored.text);
    return result;
  });
}
