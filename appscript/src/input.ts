// Validation of what an admin types into the Generate key prompts. Each parser returns a
// value or the message to show when asking again.

import { fromWallClock, isValidWallClock, type WallClock } from './dates.ts';

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const MAX_CLIENT_NAME_LENGTH = 100;
/** A cell starting with one of these is read as a formula by Sheets (and by CSV tools). */
const FORMULA_STARTS = ['=', '+', '-', '@'];
const EXPIRY_PATTERN = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/;

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = <T>(message: string): Parsed<T> => ({ ok: false, message });

export function parseClientName(text: string): Parsed<string> {
  const name = text.trim();
  if (name === '') return fail('A client name is required.');
  if (name.length > MAX_CLIENT_NAME_LENGTH) {
    return fail(`A client name has at most ${MAX_CLIENT_NAME_LENGTH} characters (this one has ${name.length}).`);
  }
  if (FORMULA_STARTS.includes(name.charAt(0))) {
    return fail(`A client name cannot start with ${FORMULA_STARTS.join(' ')} (the sheet would read it as a formula).`);
  }
  return ok(name);
}

export function parseRateLimit(text: string, defaultLimit: number): Parsed<number> {
  const trimmed = text.trim();
  if (trimmed === '') return ok(defaultLimit);
  const limit = Number(trimmed);
  if (!/^\d+$/.test(trimmed) || !Number.isSafeInteger(limit) || limit < 1) {
    return fail(`The rate limit must be a whole number of at least 1, not "${trimmed}".`);
  }
  return ok(limit);
}

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
