import { DateTime } from 'luxon';
import type { CellInput } from './table.ts';

/** 1 -> A, 27 -> AA. */
export function columnLetters(column: number): string {
  let letters = '';
  for (let n = column; n > 0; n = Math.floor((n - 1) / 26)) letters = String.fromCharCode(65 + ((n - 1) % 26)) + letters;
  return letters;
}

const MONTH = /\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?(\s|$)/i;

/**
 * Text written with valueInputOption USER_ENTERED, which Sheets would otherwise read as the admin
 * typed it: `=...` as a formula, `007` as 7, `March 2024` as a date. A leading apostrophe keeps
 * such text as text (Sheets does not store the apostrophe). Plain names and keys pass unchanged.
 */
export function sheetsText(text: string): string {
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

/**
 * An instant as typed into a cell: `YYYY-MM-DD HH:MM:SS`, wall clock in the spreadsheet's zone,
 * so USER_ENTERED makes it a date cell that the gateway reads back as the same instant.
 */
export function sheetsDateTime(instant: number, timeZone: string): string {
  let t = DateTime.fromMillis(instant, { zone: timeZone }).startOf('second');
  // Midnight would be stored as a whole serial number, which the gateway reads as a date alone
  // (valid through that day): one second earlier keeps the meaning "expired from this instant".
  if (t.hour === 0 && t.minute === 0 && t.second === 0) t = t.minus({ seconds: 1 });
  return t.toFormat('yyyy-MM-dd HH:mm:ss');
}

export function sheetsCell(cell: CellInput, timeZone: string): string | number | boolean {
  if (typeof cell === 'string') return sheetsText(cell);
  if (typeof cell === 'number' || typeof cell === 'boolean') return cell;
  if ('day' in cell) return cell.day;
  return sheetsDateTime(cell.instant, timeZone);
}
