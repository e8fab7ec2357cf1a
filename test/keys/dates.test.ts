import { describe, expect, it } from 'vitest';
import { parseExpiry } from '../../server/keys/dates.ts';

const at = (iso: string): number => Date.parse(iso);
function expiry(value: unknown, zone = 'UTC'): number | null {
  const r = parseExpiry(value, zone);
  if (!r.ok) throw new Error(r.reason);
  return r.expiresAt;
}

describe('parseExpiry', () => {
  it('blank means never', () => {
    expect(expiry(undefined)).toBeNull();
    expect(expiry('')).toBeNull();
    expect(expiry('   ')).toBeNull();
  });

  it('a date alone is valid through the end of that day in the zone', () => {
    expect(expiry('2025-12-31')).toBe(at('2026-01-01T00:00:00Z'));
    expect(expiry('2025-12-31', 'Asia/Tokyo')).toBe(at('2025-12-31T15:00:00Z'));
    expect(expiry('2025-12-31', 'America/New_York')).toBe(at('2026-01-01T05:00:00Z'));
  });

  it('an offset-less date-time is wall-clock time in the zone, across DST', () => {
    expect(expiry('2025-12-31 23:59:59', 'Asia/Tokyo')).toBe(at('2025-12-31T14:59:59Z'));
    expect(expiry('2025-07-01T12:00', 'Europe/Berlin')).toBe(at('2025-07-01T10:00:00Z'));
    expect(expiry('2025-01-01T12:00', 'Europe/Berlin')).toBe(at('2025-01-01T11:00:00Z'));
  });

  it('an explicit offset wins over the zone', () => {
    expect(expiry('2025-06-01T00:00:00Z', 'Asia/Tokyo')).toBe(at('2025-06-01T00:00:00Z'));
    expect(expiry('2025-06-01T09:00:00+09:00', 'America/New_York')).toBe(at('2025-06-01T00:00:00Z'));
  });

  it('sheet serial numbers: whole days through the end of the day, fractions exact, in the zone', () => {
    // 46022 is 2025-12-31 in the 1899-12-30 epoch.
    expect(expiry(46022)).toBe(at('2026-01-01T00:00:00Z'));
    expect(expiry(46022, 'Asia/Tokyo')).toBe(at('2025-12-31T15:00:00Z'));
    expect(expiry(46022.5, 'Asia/Tokyo')).toBe(at('2025-12-31T03:00:00Z'));
    expect(expiry('46022.75')).toBe(at('2025-12-31T18:00:00Z'));
  });

  it.each(['tomorrow', '31/12/2025', '2025-13-01', '2025-02-29', '12:00', -1, true])('rejects %j', (value) => {
    expect(parseExpiry(value, 'UTC').ok).toBe(false);
  });
});
