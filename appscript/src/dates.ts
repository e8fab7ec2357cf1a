// Wall-clock times in the spreadsheet's time zone. Apps Script runs in the script's time
// zone, which need not be the spreadsheet's, so no local-time Date constructor is used:
// Utilities.formatDate tells the zone's offset at an instant.

export interface WallClock {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const WALL_FORMAT = "yyyy-MM-dd'T'HH:mm:ss";
const WALL_PATTERN = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/;
const SECOND_MS = 1000;

function utcOf(w: WallClock): number {
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
}

/** The wall clock shown at `instant` in `timeZone` (whole seconds). */
export function wallClockAt(instant: number, timeZone: string): WallClock {
  const text = Utilities.formatDate(new Date(instant), timeZone, WALL_FORMAT);
  const m = WALL_PATTERN.exec(text);
  if (!m) throw new Error(`Unexpected date format "${text}" for time zone ${timeZone}.`);
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return { year, month, day, hour, minute, second };
}

/** The zone's offset from UTC at `instant`, in ms (formatDate shows whole seconds, so floor first). */
export function offsetAt(instant: number, timeZone: string): number {
  const whole = Math.floor(instant / SECOND_MS) * SECOND_MS;
  return utcOf(wallClockAt(whole, timeZone)) - whole;
}

/** The instant at which clocks in `timeZone` show the wall time `wallMs` (a wall clock read as UTC, ms). */
export function fromWallMs(wallMs: number, timeZone: string): number {
  let instant = wallMs;
  // Two corrections settle on the offset in force at the target, also across a DST change.
  for (let i = 0; i < 2; i++) instant = wallMs - offsetAt(instant, timeZone);
  return instant;
}

/** The instant at which clocks in `timeZone` show `wall`. */
export function fromWallClock(wall: WallClock, timeZone: string): Date {
  return new Date(fromWallMs(utcOf(wall), timeZone));
}

export function formatInZone(date: Date, timeZone: string): string {
  return Utilities.formatDate(date, timeZone, 'yyyy-MM-dd HH:mm');
}

/** Today's date in `timeZone`, YYYY-MM-DD: what a date picker's `min` needs. */
export function todayInZone(now: number, timeZone: string): string {
  return Utilities.formatDate(new Date(now), timeZone, 'yyyy-MM-dd');
}

/** Is `wall` a real calendar date and time (no 31 April, no 25:00)? */
export function isValidWallClock(w: WallClock): boolean {
  const d = new Date(utcOf(w));
  return (
    d.getUTCFullYear() === w.year && d.getUTCMonth() === w.month - 1 && d.getUTCDate() === w.day &&
    w.hour < 24 && w.minute < 60 && w.second < 60
  );
}

/**
 * The Date to write for an instant: whole seconds, rounded up (a grace period is never cut
 * short), and one second before midnight when it falls on midnight in the sheet's zone.
 * Sheets stores exact midnight as a whole serial number, which the gateway reads as a date
 * alone, valid through that whole day: a day longer than meant. The CLI does the same.
 */
export function instantCell(instant: number, timeZone: string): Date {
  const whole = Math.ceil(instant / SECOND_MS) * SECOND_MS;
  const w = wallClockAt(whole, timeZone);
  const midnight = w.hour === 0 && w.minute === 0 && w.second === 0;
  return new Date(midnight ? whole - SECOND_MS : whole);
}
