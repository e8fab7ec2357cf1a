import { parseExpiry } from '../keys/dates.ts';
import type { CellInput } from './table.ts';

/** Bad input from the operator: the message says what is wrong and never repeats a key. */
export class InputError extends Error {}

const MAX_NAME_LENGTH = 200;

export function parseName(value: string): string {
  const name = value.trim();
  if (name === '') throw new InputError('the client name must not be blank');
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new InputError('the client name must not contain control characters (line breaks, tabs)');
  if (name.length > MAX_NAME_LENGTH) throw new InputError(`the client name must be at most ${MAX_NAME_LENGTH} characters`);
  return name;
}

/**
 * A new client's name: as `parseName`, and not starting with `=`, `+`, `-` or `@`, which
 * spreadsheets (and CSV files opened in one) read as a formula. The Apps Script refuses them too.
 */
export function parseNewName(value: string): string {
  const name = parseName(value);
  if (/^[=+\-@]/.test(name)) throw new InputError('the client name must not start with =, +, - or @ (a spreadsheet would read it as a formula)');
  return name;
}

/**
 * Text for the terminal: control characters (other than line breaks) shown as escapes, so a name
 * in the sheet cannot move the cursor, clear the screen or hide itself.
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Requests per window: a positive whole number, as the gateway requires in `rate_limit`. */
export function parseRateLimit(value: string): number {
  const text = value.trim();
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n <= 0) throw new InputError('the rate limit must be a positive whole number of requests per window');
  return n;
}

/** `--token-quota`, `--request-quota`: a positive whole number, as the gateway requires in the column. */
export function parseQuota(value: string): number {
  const text = value.trim();
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n <= 0) throw new InputError('a quota must be a positive whole number per period');
  return n;
}

/** `--quota-period`: day, week (from Monday) or month, in the key source's time zone. */
export function parseQuotaPeriod(value: string): 'day' | 'week' | 'month' {
  const word = value.trim().toLowerCase();
  if (word !== 'day' && word !== 'week' && word !== 'month') throw new InputError('the quota period must be day, week or month');
  return word;
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/;

/** `--expires`: YYYY-MM-DD (valid through that day) or a date-time, checked by the gateway's own rules. */
export function checkExpires(value: string): string {
  const text = value.trim();
  if (!(DATE_ONLY.test(text) || DATE_TIME.test(text)) || !parseExpiry(text, 'UTC').ok) {
    throw new InputError('the expiry must be YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS][offset]');
  }
  return text;
}

/** The expiry in the key source's zone: the cell to write and the first instant the key is expired. */
export function resolveExpires(text: string, timeZone: string, now: number): { cell: CellInput; expiresAt: number; onDay: boolean } {
  const parsed = parseExpiry(text, timeZone);
  if (!parsed.ok || parsed.expiresAt === null) throw new InputError('the expiry must be YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS][offset]');
  if (parsed.expiresAt <= now) throw new InputError(`the expiry ${text} (${timeZone}) is in the past`);
  const onDay = DATE_ONLY.test(text);
  return { cell: onDay ? { day: text } : { instant: parsed.expiresAt }, expiresAt: parsed.expiresAt, onDay };
}

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--grace`: a whole number with a unit, `3600s`, `90m`, `24h`, `7d`; in milliseconds. */
export function parseGrace(value: string): number {
  const m = /^(\d+)\s*([smhd])$/i.exec(value.trim());
  const ms = m ? Number(m[1]) * UNIT_MS[m[2]!.toLowerCase()]! : NaN;
  if (!Number.isSafeInteger(ms)) throw new InputError('the grace period must be a whole number with a unit: 3600s, 90m, 24h or 7d');
  return ms;
}

/** `--key-id`: the 16 hex characters `list` shows (the Usage tab's key_id). */
export function parseKeyId(value: string): string {
  const id = value.trim().toLowerCase();
  if (!/^[0-9a-f]{16}$/.test(id)) throw new InputError('the key id must be the 16 hex characters that list shows');
  return id;
}

/** Instants written to the key source are whole seconds, rounded up so a grace period is never cut short. */
export function ceilToSecond(ms: number): number {
  return Math.ceil(ms / 1000) * 1000;
}
