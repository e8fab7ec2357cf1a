// `expires_at` read by the gateway's rules (server/keys/dates.ts, DESIGN.md "The keys tab"):
// blank is never; a sheet serial number (a whole one is a date alone); a Date; ISO 8601 or
// SQL-style text, in the sheet's time zone unless it names an offset. A date alone is valid
// through the end of that day. Returns the first instant the key is expired.


export type Expiry = { ok: true; expiresAt: number | null } | { ok: false; reason: string };

const DAY_MS = 86_400_000;
const SERIAL_EPOCH_MS = Date.UTC(1899, 11, 30);
const MAX_SERIAL = 2_958_465; // 9999-12-31
const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const SERIAL_TEXT = /^\d+(\.\d+)?$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;
const NOT_A_DATE = 'expires_at is not a date (use YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS][offset])';

/** Is this a real calendar date and time (no 31 April, no 25:00)? */
function isRealWall(year: number, month: number, day: number, hour: number, minute: number, second: number): boolean {
  const d = new Date(Date.UTC(year, month - 1, day));
  return d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day && hour < 24 && minute < 60 && second < 60;
}

const WALL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/;

/** The zone's offset from UTC at an instant (ms), from the wall clock Utilities.formatDate shows. */
function offsetAt(instant: number, timeZone: string): number {
  const whole = Math.floor(instant / 1000) * 1000;
  const m = WALL.exec(Utilities.formatDate(new Date(whole), timeZone, "yyyy-MM-dd'T'HH:mm:ss"));
  if (!m) throw new Error(`Unexpected date format for time zone ${timeZone}.`);
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, se) - whole;
}

/**
 * The instant clocks in `timeZone` show `local` (a wall clock written as UTC ms), as luxon
 * finds it: a time skipped by a DST change moves forward by the gap.
 */
export function instantOfLocal(local: number, timeZone: string): number {
  const o1 = offsetAt(local, timeZone);
  const o2 = offsetAt(local - o1, timeZone);
  if (o1 === o2) return local - o1;
  const o3 = offsetAt(local - o2, timeZone);
  if (o2 === o3) return local - o2;
  return local - Math.min(o2, o3);
}

function endOfDay(year: number, month: number, day: number, timeZone: string): number {
  return instantOfLocal(Date.UTC(year, month - 1, day + 1), timeZone);
}

function fromSerial(serial: number, timeZone: string): Expiry {
  if (!Number.isFinite(serial) || serial < 0 || serial > MAX_SERIAL) return { ok: false, reason: `expires_at serial ${serial} is out of range` };
  const wall = new Date(SERIAL_EPOCH_MS + Math.round(serial * DAY_MS));
  const [year, month, day] = [wall.getUTCFullYear(), wall.getUTCMonth() + 1, wall.getUTCDate()];
  if (Number.isInteger(serial)) return { ok: true, expiresAt: endOfDay(year, month, day, timeZone) };
  return { ok: true, expiresAt: instantOfLocal(wall.getTime(), timeZone) };
}

function offsetMinutes(text: string): number {
  if (text.toUpperCase() === 'Z') return 0;
  const digits = text.slice(1).replace(':', '');
  const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0');
  return text[0] === '-' ? -minutes : minutes;
}

function fromText(text: string, timeZone: string): Expiry {
  if (SERIAL_TEXT.test(text)) return fromSerial(Number(text), timeZone);
  const dateOnly = DATE_ONLY.exec(text);
  if (dateOnly) {
    const [year, month, day] = dateOnly.slice(1).map(Number) as [number, number, number];
    if (!isRealWall(year, month, day, 0, 0, 0)) return { ok: false, reason: 'expires_at is not a valid date' };
    return { ok: true, expiresAt: endOfDay(year, month, day, timeZone) };
  }
  const m = DATE_TIME.exec(text);
  if (!m) return { ok: false, reason: NOT_A_DATE };
  const [year, month, day, hour, minute] = m.slice(1, 6).map(Number) as [number, number, number, number, number];
  const second = Number(m[6] ?? 0);
  const millis = Math.floor(Number(`0.${m[7] ?? '0'}`) * 1000);
  // ISO 8601 allows 24:00 (and luxon reads it): the end of that day.
  const endOfDayTime = hour === 24 && minute === 0 && second === 0 && millis === 0;
  if (!isRealWall(year, month, day, endOfDayTime ? 0 : hour, minute, second)) return { ok: false, reason: NOT_A_DATE };
  const local = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  if (m[8]) return { ok: true, expiresAt: local - offsetMinutes(m[8]) * 60_000 };
  return { ok: true, expiresAt: instantOfLocal(local, timeZone) };
}

export function parseExpiry(value: unknown, timeZone: string): Expiry {
  if (value === null || value === undefined) return { ok: true, expiresAt: null };
  if (typeof value === 'number') return fromSerial(value, timeZone);
  if (Object.prototype.toString.call(value) === '[object Date]') {
    const ms = (value as Date).getTime();
    if (Number.isNaN(ms)) return { ok: false, reason: 'expires_at is an invalid date' };
    // getValues() hands over a Date where the gateway reads a serial number: a Date at exact
    // midnight in the sheet's zone is a whole serial there, a date alone, valid through that day.
    const local = ms + offsetAt(ms, timeZone);
    if (local % DAY_MS === 0) {
      const wall = new Date(local);
      return { ok: true, expiresAt: endOfDay(wall.getUTCFullYear(), wall.getUTCMonth() + 1, wall.getUTCDate(), timeZone) };
    }
    return { ok: true, expiresAt: ms };
  }
  if (typeof value !== 'string') return { ok: false, reason: `expires_at has unsupported type ${typeof value}` };
  const text = value.trim();
  return text === '' ? { ok: true, expiresAt: null } : fromText(text, timeZone);
}
