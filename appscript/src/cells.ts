// How the script reads the cells an admin may have typed by hand, with the gateway's rules
// (DESIGN.md, "The keys tab").

import { KEY_PREFIX } from './config.ts';

const TRUE_WORDS = ['true', 'yes', '1'];

/** `is_active`: a sheet boolean or text true/yes/1 in any case; anything else is inactive. */
export function isActiveValue(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  return TRUE_WORDS.includes(String(value).trim().toLowerCase());
}

export function isDate(value: unknown): value is Date {
  return value instanceof Date && !Number.isNaN(value.getTime());
}

/** A count read from a Usage cell; blanks and junk count as 0 rather than failing the sum. */
export function countValue(value: unknown): number {
  const n = typeof value === 'number' ? value : Number(String(value).trim());
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** A Usage timestamp (ISO 8601 text, or a date when the sheet parsed it) in epoch ms. */
export function timestampValue(value: unknown): number | null {
  if (isDate(value)) return value.getTime();
  if (typeof value !== 'string' || value.trim() === '') return null;
  const ms = Date.parse(value.trim());
  return Number.isNaN(ms) ? null : ms;
}

/** `sk-convergence-…abcd`: enough to recognise a key in a message without showing it. */
export function maskKey(key: string): string {
  return `${key.startsWith(KEY_PREFIX) ? KEY_PREFIX : ''}…${key.slice(-4)}`;
}
