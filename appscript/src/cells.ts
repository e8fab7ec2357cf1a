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

const MONTH = /\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?(\s|$)/i;

/**
 * Text as it must be written for Sheets to keep it text. setValue, setValues and appendRow
 * read a string as if it were typed: `=...` becomes a formula, `007` the number 7, `TRUE` a
 * boolean, `2024-03-01` or `March 2024` a date. A leading apostrophe keeps such text as text
 * (Sheets does not store the apostrophe). The CLI uses the same rule (server/keytable/sheets-cells.ts).
 */
export function sheetText(text: string): string {
  const t = text.trim();
  if (t === '') return text;
  const risky =
    /^[=+\-@']/.test(t) ||
    /^(true|false)$/i.test(t) ||
    !/[a-z]/i.test(t) ||
    /^[\d.,]+e[+-]?\d+$/i.test(t) ||
    /\d\s*(am|pm)\b/i.test(t) ||
    (/\d/.test(t) && MONTH.test(t));
  return risky ? `'${text}` : text;
}

/** A value read with getValues, to write back as the same value: numbers, booleans and dates as they are, text kept text. */
export function sameValue(value: unknown): unknown {
  return typeof value === 'string' ? sheetText(value) : value;
}
