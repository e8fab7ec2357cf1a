// Dates across realms and time zones, for the fakes and the tests.

export type DateCtor = new (ms: number) => Date;

/** True for a Date from any realm (the vm's Dates fail `instanceof Date` here). */
export function isDate(value: unknown): value is Date {
  return Object.prototype.toString.call(value) === '[object Date]' && !Number.isNaN((value as Date).getTime());
}

export interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
/** One formatter per zone: building one costs far more than using it, and year-long tests format a lot. */
function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The wall clock at `ms` in `timeZone`, computed by Intl (independent of the code under test). */
export function wallClock(ms: number, timeZone: string): Wall {
  const parts = formatterFor(timeZone).formatToParts(new Date(ms));
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return { year: part('year'), month: part('month'), day: part('day'), hour: part('hour'), minute: part('minute'), second: part('second') };
}

/** The instant at which clocks in `timeZone` show `local` (YYYY-MM-DDTHH:MM:SS; not in a DST gap). */
export function instantOfWall(local: string, timeZone: string): number {
  const guess = Date.parse(`${local}Z`);
  const w = wallClock(guess, timeZone);
  return guess - (Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - guess);
}

const SHEETS_EPOCH_MS = Date.UTC(1899, 11, 30);
const DAY_MS = 86_400_000;

/** A date as Sheets' UNFORMATTED_VALUE / SERIAL_NUMBER gives it: days since 1899-12-30, wall clock of the sheet's zone. */
export function toSerial(date: Date, timeZone: string): number {
  const w = wallClock(date.getTime(), timeZone);
  const wallMs = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) + (date.getTime() % 1000 + 1000) % 1000;
  return (wallMs - SHEETS_EPOCH_MS) / DAY_MS;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * Utilities.formatDate for the SimpleDateFormat letters the script may use (yyyy MM dd HH mm
 * ss, quoted literals); any other letter throws rather than print something wrong.
 */
export function formatDate(date: Date, timeZone: string, pattern: string): string {
  const w = wallClock(date.getTime(), timeZone);
  const fields: Record<string, string> = {
    yyyy: pad(w.year, 4), MM: pad(w.month), dd: pad(w.day), HH: pad(w.hour), mm: pad(w.minute), ss: pad(w.second),
  };
  return pattern.replace(/'([^']*)'|([A-Za-z])\2*/g, (token, quoted: string | undefined) => {
    if (quoted !== undefined) return quoted;
    const field = fields[token];
    if (field === undefined) throw new Error(`fake formatDate: unsupported pattern letters "${token}"`);
    return field;
  });
}
