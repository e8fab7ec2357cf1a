// What Refresh usage has already read of the raw Usage tab, so each run reads only the rows
// appended since (the tab is append-only; compaction removes rows only from the top and
// moves the cursor with them). Kept as JSON in a hidden tab: document properties hold 9 KB
// a value, and weeks of flush ids do not fit. A stamp in the document properties changes
// with every save, so a run can tell cheaply whether another one saved in the meantime.
// Deleting the tab is safe: the next run re-reads both usage tabs from the start.

import type { Counts } from './usage-rows.ts';

export const STATE_SHEET = 'Usage (state)';
const STAMP_PROPERTY = 'USAGE_STATE_STAMP';
const VERSION = 1;
const PREFIX = 'j'; // keeps Sheets from reading a chunk such as "1e5" as a number
const CHUNK_CHARS = 45_000; // a cell holds 50,000
const NOTE = 'State of Refresh usage (API Keys menu). Hidden on purpose; deleting this tab makes the next refresh re-read Usage and Usage (daily).';

export interface KeyTotals {
  counts: Counts;
  /** When the key was last used (epoch ms), from raw rows; 0 when unknown. */
  last: number;
  /** The last day with requests, also from compacted rows. */
  lastDay: string;
  /** client_name as the gateway last wrote it. */
  client: string;
}

export interface UsageState {
  v: number;
  /** Data rows of the raw tab already read: sheet rows 2 .. cursor + 1. */
  cursor: number;
  /** Fingerprint of the row at the cursor: if it differs, the tab was edited and is read again. */
  check: string;
  keys: Record<string, KeyTotals>;
  /** Recent days only (quota periods and the dashboard): day -> key id -> counts. */
  days: Record<string, Record<string, Counts>>;
  /** (flush_id, key_id) hashes read, by the day they were read, so a retried flush counts once. */
  seen: Record<string, string>;
  /** Hashes already rolled into Usage (daily), by the day they were. */
  compacted: Record<string, string>;
}

export function emptyState(): UsageState {
  return { v: VERSION, cursor: 0, check: '', keys: {}, days: {}, seen: {}, compacted: {} };
}

export interface StoredState {
  state: UsageState | null;
  text: string;
  stamp: string;
}

export function readStamp(): string {
  return PropertiesService.getDocumentProperties().getProperty(STAMP_PROPERTY) ?? '';
}

function isState(value: unknown): value is UsageState {
  const s = value as UsageState;
  return !!s && typeof s === 'object' && s.v === VERSION && Number.isInteger(s.cursor) && s.cursor >= 0 &&
    typeof s.check === 'string' && [s.keys, s.days, s.seen, s.compacted].every((part) => !!part && typeof part === 'object');
}

/** The saved state; null when there is none or it cannot be trusted (then everything is read again). */
export function loadState(ss: GoogleAppsScript.Spreadsheet.Spreadsheet): StoredState {
  const stamp = readStamp();
  const sheet = ss.getSheetByName(STATE_SHEET);
  const last = sheet ? sheet.getLastRow() : 0;
  if (!sheet || last < 2) return { state: null, text: '', stamp };
  const text = sheet.getRange(2, 1, last - 1, 1).getValues().map((row) => String(row[0] ?? '').slice(PREFIX.length)).join('');
  try {
    const parsed: unknown = JSON.parse(text);
    return { state: isState(parsed) ? parsed : null, text, stamp };
  } catch {
    return { state: null, text: '', stamp };
  }
}

/** Saves under the document lock; does nothing when the state did not change. */
export function saveState(ss: GoogleAppsScript.Spreadsheet.Spreadsheet, state: UsageState, previousText: string): void {
  const text = JSON.stringify(state);
  if (text === previousText) return;
  let sheet = ss.getSheetByName(STATE_SHEET);
  if (!sheet) {
    const active = ss.getActiveSheet();
    sheet = ss.insertSheet(STATE_SHEET);
    ss.setActiveSheet(active); // insertSheet activates the new tab; keep the admin where they were
    sheet.hideSheet();
  }
  const chunks: string[][] = [[NOTE]];
  for (let i = 0; i < text.length; i += CHUNK_CHARS) chunks.push([PREFIX + text.slice(i, i + CHUNK_CHARS)]);
  sheet.clearContents();
  if (sheet.getMaxRows() < chunks.length) sheet.insertRowsAfter(sheet.getMaxRows(), chunks.length - sheet.getMaxRows());
  sheet.getRange(1, 1, chunks.length, 1).setValues(chunks);
  PropertiesService.getDocumentProperties().setProperty(STAMP_PROPERTY, `${Date.now()}-${Math.random().toString(36).slice(2)}`);
}
