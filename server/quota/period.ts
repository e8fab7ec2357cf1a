import { DateTime } from 'luxon';
import type { QuotaPeriod } from '../keys/types.ts';

/** One calendar period of a quota, in the key source's time zone. */
export interface PeriodWindow {
  kind: QuotaPeriod;
  /** Names the period wherever counts are kept: `day:2026-12-01`, `week:2026-11-30` (its Monday), `month:2026-12`. */
  key: string;
  startMs: number;
  /** First instant of the next period. */
  endMs: number;
}

/**
 * The period of `kind` that contains `now`, as calendar days of `zone`: a day starts at local
 * midnight, a week on Monday (ISO weeks), a month on its first day. Across a DST change a day is
 * 23 or 25 hours long, as the clock on the wall says.
 */
export function periodAt(kind: QuotaPeriod, now: number, zone: string): PeriodWindow {
  const local = DateTime.fromMillis(now, { zone });
  const start = local.startOf(kind === 'week' ? 'week' : kind);
  const end = start.plus(kind === 'day' ? { days: 1 } : kind === 'week' ? { weeks: 1 } : { months: 1 });
  const label = kind === 'month' ? start.toFormat('yyyy-MM') : start.toISODate()!;
  return { kind, key: `${kind}:${label}`, startMs: start.toMillis(), endMs: end.toMillis() };
}

/** The three periods containing `now`: what seeding needs to sum usage rows into. */
export function currentPeriods(now: number, zone: string): PeriodWindow[] {
  return (['day', 'week', 'month'] as const).map((kind) => periodAt(kind, now, zone));
}

/** Whole seconds until the period ends, at least 1 (what Retry-After and X-Quota-Reset say). */
export function secondsUntilEnd(period: PeriodWindow, now: number): number {
  return Math.max(1, Math.ceil((period.endMs - now) / 1000));
}
