// Reads an `expires_at` cell the way the gateway does (server/keys/dates.ts), so Rotate and
// the menu agree with it on when a key stops working. getValues() hands the script a Date
// where the gateway reads a serial number, so a Date at exact midnight in the sheet's zone is
// a date alone here too: valid through the end of that day. test/vectors/expiry.json pins
// both parsers to the same answers.

import { fromWallMs, isValidWallClock, offsetAt, wallClockAt } from './dates.ts';

export type Expiry = { ok: true; expiresAt: number | null } | { ok: false; reason: string };

const DAY_MS = 86_400_000;
/** Day 0 of Sheets serial numbers, 1899-12-30, as UTC ms. */
const SERIAL_EPOCH_MS = Date.UTC(1899, 11, 30);
/** 9999-12-31, the last day the gateway accepts. */
const MAX_SERIAL = 2_958_465;
const SERIAL_TEXT = /^\d+(\.\d+)?$/;
const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
/**
 * The date-time texts the script reads: ISO 8601 (`T`) or SQL-style (space), minutes required,
 * then an optional offset. The gateway (Luxon) reads a few more forms; the script refuses those,
 * which is the safe side: Rotate then asks the admin to fix the cell.
 */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(T| +)(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:( *)(Z|[+-]\d{2}(?::?\d{2})?))?$/;
const NOT_A_DATE = 'expires_at is not a date (use YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS][offset])';

function fromSerial(serial: number, timeZone: string): Expiry {
  if (!Number.isFinite(serial) || serial < 0 || serial > MAX_SERIAL) return { ok: false, reason: `expires_at serial ${serial} is out of range` };
  const wall = SERIAL_EPOCH_MS + Math.round(serial * DAY_MS);
  // A whole number is a date alone: valid through the end of that day.
  return { ok: true, expiresAt: fromWallMs(Number.isInteger(serial) ? wall + DAY_MS : wall, timeZone) };
}

function isMidnight(instant: number, timeZone: string): boolean {
  const w = wallClockAt(instant, timeZone);
  return instant % 1000 === 0 && w.hour === 0 && w.minute === 0 && w.second === 0;
}

function offsetMs(text: string): number | null {
  if (text === 'Z') return 0;
  const m = /^([+-])(\d{2}):?(\d{2})?$/.exec(text);
  if (!m) return null;
  const minutes = Number(m[2]) * 60 + Number(m[3] ?? 0);
  if (Number(m[2]) > 23 || Number(m[3] ?? 0) > 59) return null;
  return (m[1] === '-' ? -1 : 1) * minutes * 60_000;
}

function fromText(text: string, timeZone: string): Expiry {
  const day = DATE_ONLY.exec(text);
  if (day) {
    const [year, month, date] = day.slice(1, 4).map(Number) as [number, number, number];
    if (!isValidWallClock({ year, month, day: date, hour: 0, minute: 0, second: 0 })) return { ok: false, reason: 'expires_at is not a valid date' };
    return { ok: true, expiresAt: fromWallMs(Date.UTC(year, month - 1, date) + DAY_MS, timeZone) };
  }
  const m = DATE_TIME.exec(text);
  if (!m) return { ok: false, reason: NOT_A_DATE };
  const [year, month, date] = m.slice(1, 4).map(Number) as [number, number, number];
  const [hour, minute, second] = [m[5], m[6], m[7] ?? '0'].map(Number) as [number, number, number];
  // ISO 8601 puts an offset right after the time; only the SQL style allows a space before it.
  if (m[4] === 'T' && (m[9] ?? '') !== '') return { ok: false, reason: NOT_A_DATE };
  if (!isValidWallClock({ year, month, day: date, hour, minute, second })) return { ok: false, reason: NOT_A_DATE };
  const millis = m[8] === undefined ? 0 : Math.floor(Number(`0.${m[8]}`) * 1000);
  const wall = Date.UTC(year, month - 1, date, hour, minute, second) + millis;
  if (m[10] === undefined) return { ok: true, expiresAt: fromWallMs(wall, timeZone) };
  const offset = offsetMs(m[10]);
  return offset === null ? { ok: false, reason: NOT_A_DATE } : { ok: true, expiresAt: wall - offset };
}

/** The first instant at which the key is expired (epoch ms), null for never, or why the cell is unreadable. */
export function parseExpiryCell(value: unknown, timeZone: string): Expiry {
  if (value === null || value === undefined) return { ok: true, expiresAt: null };
  if (typeof value === 'number') return fromSerial(value, timeZone);
  if (Object.prototype.toString.call(value) === '[object Date]') {
    const instant = (value as Date).getTime();
    if (Number.isNaN(instant)) return { ok: false, reason: 'expires_at is an invalid date' };
    // The gateway reads this cell as a serial number: a whole one at exact midnight.
    return { ok: true, expiresAt: isMidnight(instant, timeZone) ? fromWallMs(instant + offsetAt(instant, timeZone) + DAY_MS, timeZone) : instant };
  }
  if (typeof value !== 'string') return { ok: false, reason: `expires_at has unsupported type ${typeof value}` };
  const text = value.trim();
  if (text === '') return { ok: true, expiresAt: null };
  if (SERIAL_TEXT.test(text)) return fromSerial(Number(text), timeZone);
  return fromText(text, timeZone);
}
