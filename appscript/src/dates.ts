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

function utcOf(w: WallClock): number {
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
}

/** The wall clock shown at `instant` in `timeZone`, read as if it were UTC (epoch ms). */
function wallClockAsUtc(instant: number, timeZone: string): number {
  const text = Utilities.formatDate(new Date(instant), timeZone, WALL_FORMAT);
  const m = WALL_PATTERN.exec(text);
  if (!m) throw new Error(`Unexpected date format "${text}" for time zone ${timeZone}.`);
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return utcOf({ year, month, day, hour, minute, second });
}

/** The instant at which clocks in `timeZone` show `wall`. */
export function fromWallClock(wall: WallClock, timeZone: string): Date {
  const target = utcOf(wall);
  let instant = target;
  // Two corrections settle on the offset in force at the target, also across a DST change.
  for (let i = 0; i < 2; i++) instant += target - wallClockAsUtc(instant, timeZone);
  return new Date(instant);
}

export function formatInZone(date: Date, timeZone: string): string {
  return Utilities.formatDate(date, timeZone, 'yyyy-MM-dd HH:mm');
}

/** Is `wall` a real calendar date and time (no 31 April, no 25:00)? */
export function isValidWallClock(w: WallClock): boolean {
  const d = new Date(utcOf(w));
  return (
    d.getUTCFullYear() === w.year && d.getUTCMonth() === w.month - 1 && d.getUTCDate() === w.day &&
    w.hour < 24 && w.minute < 60 && w.second < 60
  );
}
