// Reading rows of the raw `Usage` tab and of `Usage (daily)` (HELPERS.md, shared data
// contracts): columns found by header name, counts forgiving (junk counts 0), and each row's
// day in the sheet's time zone: the hour it covers (period_start) when the gateway wrote
// one, else when it was written (round-1 rows).

import { cell, columnsOf } from './columns.ts';
import { countValue, isDate, timestampValue } from './cells.ts';
import { dayFinder } from './periods.ts';

export const DAILY_SHEET = 'Usage (daily)';
export const DAILY_HEADERS = ['day', 'key_id', 'client_name', 'requests', 'rate_limited', 'prompt_tokens', 'completion_tokens'] as const;

/** requests, rate_limited, prompt_tokens, completion_tokens. */
export type Counts = [number, number, number, number];

export interface UsageRecord {
  keyId: string;
  client: string;
  /** YYYY-MM-DD in the sheet's time zone, or null when the row names no usable time. */
  day: string | null;
  /** When the row was written (raw rows), for last_used_at. */
  time: number | null;
  counts: Counts;
  /** Hash of (flush_id, key_id): rows sharing one are a retried flush, counted once. Null without a flush_id. */
  pair: string | null;
}

export function zeroCounts(): Counts {
  return [0, 0, 0, 0];
}

export function addCounts(into: Counts, more: Counts): void {
  for (let i = 0; i < 4; i++) into[i] = (into[i] as number) + (more[i] as number);
}

/**
 * cyrb53, a fast 53-bit string hash, as 11 base-36 characters. Pairs are stored hashed so
 * that weeks of flush ids fit in a few cells; within one day's pairs a collision is about
 * as likely as 1 in 10^8.
 */
export function hash53(text: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  const value = 4294967296 * (2097151 & h2) + (h1 >>> 0);
  return `00000000000${value.toString(36)}`.slice(-PAIR_LENGTH);
}
export const PAIR_LENGTH = 11;

/** What a row holds, for telling later whether the row at a position is still the same row. */
export function rowFingerprint(row: readonly unknown[]): string {
  return hash53(row.map((v) => (isDate(v) ? `d${v.getTime()}` : `${typeof v}:${String(v)}`)).join('\u0001'));
}

const COUNT_COLUMNS = ['requests', 'rate_limited', 'prompt_tokens', 'completion_tokens'] as const;

function countsOf(row: readonly unknown[], columns: Map<string, number>): Counts {
  return COUNT_COLUMNS.map((name) => countValue(cell(row, columns, name))) as Counts;
}

/** A reader of raw Usage rows for the given header row. */
export function rawReader(header: readonly unknown[], timeZone: string): (row: readonly unknown[]) => UsageRecord {
  const columns = columnsOf(header);
  const dayOf = dayFinder(timeZone);
  return (row) => {
    const keyId = String(cell(row, columns, 'key_id')).trim().toLowerCase();
    const flushId = String(cell(row, columns, 'flush_id')).trim();
    const time = timestampValue(cell(row, columns, 'timestamp'));
    const covers = timestampValue(cell(row, columns, 'period_start')) ?? time;
    return {
      keyId,
      client: String(cell(row, columns, 'client_name')).trim(),
      day: covers === null ? null : dayOf(covers),
      time,
      counts: countsOf(row, columns),
      pair: flushId === '' ? null : hash53(`${flushId}\u0000${keyId}`),
    };
  };
}

const DAY_TEXT = /^\d{4}-\d{2}-\d{2}$/;

/** A reader of `Usage (daily)` rows; a `day` the sheet turned into a date is read back in its zone. */
export function dailyReader(header: readonly unknown[], timeZone: string): (row: readonly unknown[]) => UsageRecord {
  const columns = columnsOf(header);
  return (row) => {
    const raw = cell(row, columns, 'day');
    const text = isDate(raw) ? Utilities.formatDate(raw, timeZone, 'yyyy-MM-dd') : String(raw).trim();
    return {
      keyId: String(cell(row, columns, 'key_id')).trim().toLowerCase(),
      client: String(cell(row, columns, 'client_name')).trim(),
      day: DAY_TEXT.test(text) ? text : null,
      time: null,
      counts: countsOf(row, columns),
      pair: null,
    };
  };
}
