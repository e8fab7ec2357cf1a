// Calendar days and quota periods in the spreadsheet's time zone, as YYYY-MM-DD text: days
// compare as strings, and day arithmetic needs no time zone once the day is known.

import { instantOfLocal } from './expiry.ts';

export const DAY_MS = 86_400_000;
/** Every zone offset in use is a multiple of 15 minutes, so one day lookup serves each slot. */
const SLOT_MS = 15 * 60_000;

export type QuotaPeriod = 'day' | 'week' | 'month';
export const QUOTA_PERIODS: readonly QuotaPeriod[] = ['day', 'week', 'month'];

/** `quota_period` as the gateway reads it: blank is month; anything else unknown is null. */
export function parsePeriod(value: unknown): QuotaPeriod | null {
  const text = String(value ?? '').trim().toLowerCase();
  if (text === '') return 'month';
  return (QUOTA_PERIODS as readonly string[]).includes(text) ? (text as QuotaPeriod) : null;
}

/** Day of an instant in `timeZone`; memoised per 15-minute slot, since it runs once per usage row. */
export function dayFinder(timeZone: string): (ms: number) => string {
  const cache = new Map<number, string>();
  return (ms) => {
    const slot = Math.floor(ms / SLOT_MS);
    let day = cache.get(slot);
    if (day === undefined) {
      day = Utilities.formatDate(new Date(slot * SLOT_MS), timeZone, 'yyyy-MM-dd');
      cache.set(slot, day);
    }
    return day;
  };
}

function parts(day: string): [number, number, number] {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return [y, m, d];
}

function format(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => (n < 10 ? `0${n}` : String(n));
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

export function addDays(day: string, days: number): string {
  const [y, m, d] = parts(day);
  return format(Date.UTC(y, m - 1, d + days));
}

/** The first day of the period that holds `day`; weeks start on Monday. */
export function periodStart(day: string, period: QuotaPeriod): string {
  const [y, m, d] = parts(day);
  if (period === 'day') return day;
  if (period === 'month') return format(Date.UTC(y, m - 1, 1));
  const weekday = new Date(Date.UTC(y, m - 1, d)).getUTCDay(); // 0 = Sunday
  return addDays(day, -((weekday + 6) % 7));
}

/** The first day after the period that holds `day`. */
export function periodEnd(day: string, period: QuotaPeriod): string {
  const start = periodStart(day, period);
  if (period === 'day') return addDays(start, 1);
  if (period === 'week') return addDays(start, 7);
  const [y, m] = parts(start);
  return format(Date.UTC(y, m, 1));
}

/** The instant a day begins in `timeZone`. */
export function dayStart(day: string, timeZone: string): Date {
  const [year, month, dayOfMonth] = parts(day);
  return new Date(instantOfLocal(Date.UTC(year, month - 1, dayOfMonth), timeZone));
}

/** `2026-11-28 08:00` in the sheet's zone, for messages. */
export function formatInZone(date: Date, timeZone: string): string {
  return Utilities.formatDate(date, timeZone, 'yyyy-MM-dd HH:mm');
}
