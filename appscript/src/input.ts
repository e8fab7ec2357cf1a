// The expiry an admin enters in the Generate key form, as an instant in the sheet's zone.
// (The other fields are checked by key-form.ts, in the form and on the server alike.)

import { fromWallClock, isValidWallClock, type WallClock } from './dates.ts';

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const EXPIRY_PATTERN = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/;

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = <T>(message: string): Parsed<T> => ({ ok: false, message });

/**
 * `YYYY-MM-DD` (valid through the end of that day) or `YYYY-MM-DD HH:MM[:SS]`, in the
 * spreadsheet's time zone; blank means the key never expires.
 */
export function parseExpiry(text: string, timeZone: string, now: number): Parsed<Date | null> {
  const trimmed = text.trim();
  if (trimmed === '') return ok(null);
  const m = EXPIRY_PATTERN.exec(trimmed);
  const usage = `Type the expiry as YYYY-MM-DD or YYYY-MM-DD HH:MM (time zone ${timeZone}), or leave it blank.`;
  if (!m) return fail(`"${trimmed}" is not a date. ${usage}`);
  const [year, month, day] = [m[1], m[2], m[3]].map(Number) as [number, number, number];
  const wall: WallClock =
    m[4] === undefined
      ? { year, month, day, hour: 23, minute: 59, second: 59 }
      : { year, month, day, hour: Number(m[4]), minute: Number(m[5]), second: Number(m[6] ?? 0) };
  if (!isValidWallClock(wall)) return fail(`"${trimmed}" is not a real date or time. ${usage}`);
  const expires = fromWallClock(wall, timeZone);
  if (expires.getTime() <= now) return fail(`The expiry ${trimmed} is already past. ${usage}`);
  return ok(expires);
}
