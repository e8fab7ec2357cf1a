import { describe, expect, it } from 'vitest';
import { periodAt, secondsUntilEnd } from '../../server/quota/period.ts';

describe('quota periods', () => {
  it('are calendar days, ISO weeks (Monday) and months of the given zone', () => {
    const at = Date.parse('2026-03-10T14:59:00Z'); // Tuesday, 23:59 in Tokyo
    expect(periodAt('day', at, 'Asia/Tokyo')).toEqual({ kind: 'day', key: 'day:2026-03-10', startMs: Date.parse('2026-03-09T15:00:00Z'), endMs: Date.parse('2026-03-10T15:00:00Z') });
    expect(periodAt('day', at + 60_000, 'Asia/Tokyo').key).toBe('day:2026-03-11');
    expect(periodAt('day', at, 'UTC').key).toBe('day:2026-03-10');
    expect(periodAt('week', at, 'Asia/Tokyo')).toMatchObject({ key: 'week:2026-03-09', endMs: Date.parse('2026-03-15T15:00:00Z') });
    // Sunday 23:30 in New York is still the week that began on Monday 9 March.
    expect(periodAt('week', Date.parse('2026-03-16T03:30:00Z'), 'America/New_York').key).toBe('week:2026-03-09');
    expect(periodAt('month', Date.parse('2026-02-28T23:30:00Z'), 'Europe/Berlin')).toMatchObject({ key: 'month:2026-03', startMs: Date.parse('2026-02-28T23:00:00Z'), endMs: Date.parse('2026-03-31T22:00:00Z') });
  });

  it('follow the wall clock across a DST change (a 23-hour day)', () => {
    const p = periodAt('day', Date.parse('2026-03-29T12:00:00Z'), 'Europe/Berlin');
    expect(p.endMs - p.startMs).toBe(23 * 3_600_000);
    expect(secondsUntilEnd(p, p.endMs - 1)).toBe(1);
    expect(secondsUntilEnd(p, p.endMs + 5_000)).toBe(1);
  });
});
