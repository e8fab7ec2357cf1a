import { DateTime, IANAZone } from 'luxon';

/** Day 0 of Google Sheets (and Excel 1900-system) serial dates. */
const SERIAL_EPOCH = { year: 1899, month: 12, day: 30 } as const;
const MS_PER_DAY = 86_400_000;

export type ExpiryResult = { ok: true; expiresAt: number | null } | { ok: false; reason: string };

export function isValidTimeZone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

/** Turns a wall-clock DateTime (zone UTC used as "no zone") into the instant it names in `zone`. */
function inZone(wall: DateTime, zone: string): DateTime {
  return DateTime.fromObject(
    {
      year: wall.year, month: wall.month, day: wall.day,
      hour: wall.hour, minute: wall.minute, second: wall.second, millisecond: wall.millisecond,
    },
    { zone },
  );
}

/** Sheets serial (days since 1899-12-30, wall clock of the spreadsheet's zone) to an expiry instant. */
function fromSerial(serial: number, zone: string): ExpiryResult {
  if (!Number.isFinite(serial) || serial < 0 || serial > 2_958_465 /* 9999-12-31 */) {
    return { ok: false, reason: `expires_at serial ${serial} is out of range` };
  }
  const wall = DateTime.fromObject(SERIAL_EPOCH, { zone: 'UTC' }).plus({ milliseconds: Math.round(serial * MS_PER_DAY) });
  const local = inZone(wall, zone);
  // A whole number is a date alone: valid through the end of that day.
  const instant = Number.isInteger(serial) ? local.plus({ days: 1 }).startOf('day') : local;
  return { ok: true, expiresAt: instant.toMillis() };
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const SERIAL_TEXT = /^\d+(\.\d+)?$/;
/** Luxon also reads a bare time as "today": an expiry must name its day. */
const STARTS_WITH_DATE = /^\d{4}-\d{2}-\d{2}[T ]/;
const NOT_A_DATE = 'expires_at is not a date (use YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS][offset])';

/**
 * Parses an `expires_at` cell: blank is never; a sheet serial number; ISO 8601 / SQL-style text.
 * Text without an offset is wall-clock time in `zone`; a date alone is valid through that day.
 * Returns the first instant at which the key is expired (epoch ms).
 */
export function parseExpiry(value: unknown, zone: string): ExpiryResult {
  if (value === null || value === undefined) return { ok: true, expiresAt: null };
  if (typeof value === 'number') return fromSerial(value, zone);
  if (value instanceof Date) {
    return Number.isNaN(value.getTime()) ? { ok: false, reason: 'expires_at is an invalid date' } : { ok: true, expiresAt: value.getTime() };
  }
  if (typeof value !== 'string') return { ok: false, reason: `expires_at has unsupported type ${typeof value}` };
  const text = value.trim();
  if (text === '') return { ok: true, expiresAt: null };
  if (SERIAL_TEXT.test(text)) return fromSerial(Number(text), zone);
  if (DATE_ONLY.test(text)) {
    const day = DateTime.fromISO(text, { zone });
    if (!day.isValid) return { ok: false, reason: 'expires_at is not a valid date' };
    return { ok: true, expiresAt: day.plus({ days: 1 }).startOf('day').toMillis() };
  }
  if (!STARTS_WITH_DATE.test(text)) return { ok: false, reason: NOT_A_DATE };
  let parsed = DateTime.fromISO(text, { zone });
  if (!parsed.isValid) parsed = DateTime.fromSQL(text, { zone });
  if (!parsed.isValid) return { ok: false, reason: NOT_A_DATE };
  return { ok: true, expiresAt: parsed.toMillis() };
}
