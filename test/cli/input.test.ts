import { describe, expect, it } from 'vitest';
import { checkExpires, InputError, parseGrace, parseKeyId, parseName, parseRateLimit, resolveExpires } from '../../server/keytable/input.ts';
import { labelFromHint, maskKey } from '../../server/keytable/keys.ts';
import { viewRows } from '../../server/keytable/rows.ts';
import { sheetsDateTime, sheetsText } from '../../server/keytable/sheets-cells.ts';
import { parseExpiry } from '../../server/keys/dates.ts';
import { sha256Hex } from '../../server/keys/keyid.ts';

const KEY = 'sk-convergence-0f8fad5b-d9cb-469f-a165-70867728950e';

describe('option values', () => {
  it('accepts grace periods with a unit and nothing else', () => {
    expect(parseGrace('3600s')).toBe(3_600_000);
    expect(parseGrace('90m')).toBe(5_400_000);
    expect(parseGrace('24h')).toBe(86_400_000);
    expect(parseGrace('7d')).toBe(604_800_000);
    expect(parseGrace('0s')).toBe(0);
    for (const bad of ['24', '1y', '-1h', '1.5h', 'h', '', '24 hours']) expect(() => parseGrace(bad), bad).toThrow(InputError);
  });

  it('takes rate limits as positive whole numbers only', () => {
    expect(parseRateLimit('120')).toBe(120);
    for (const bad of ['0', '-5', '1.5', 'fast', '', '1e3', '99999999999999999999']) expect(() => parseRateLimit(bad), bad).toThrow(InputError);
  });

  it('takes expiries the gateway can read, as a day or a date-time', () => {
    expect(checkExpires('2030-12-31')).toBe('2030-12-31');
    expect(checkExpires('2030-12-31 18:00')).toBe('2030-12-31 18:00');
    expect(checkExpires('2030-12-31T18:00:00+02:00')).toBe('2030-12-31T18:00:00+02:00');
    for (const bad of ['tomorrow', '2030-13-01', '2030-02-30', '46000', '31/12/2030', '18:00']) expect(() => checkExpires(bad), bad).toThrow(InputError);
  });

  it('resolves an expiry in the source zone, as the gateway will read it, and refuses the past', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    const day = resolveExpires('2030-06-30', 'Asia/Tokyo', now);
    expect(day.cell).toEqual({ day: '2030-06-30' });
    expect(day.expiresAt).toBe(Date.parse('2030-06-30T15:00:00Z')); // end of the Tokyo day
    const instant = resolveExpires('2030-06-30 12:00', 'Europe/Berlin', now);
    expect(instant.cell).toEqual({ instant: Date.parse('2030-06-30T10:00:00Z') });
    expect(() => resolveExpires('2029-12-31', 'UTC', now)).toThrow(/in the past/);
  });

  it('checks names and key ids', () => {
    expect(parseName('  Acme  ')).toBe('Acme');
    expect(() => parseName('   ')).toThrow(InputError);
    expect(() => parseName('a\nb')).toThrow(InputError);
    expect(parseKeyId('89F3293D1E29C4CA')).toBe('89f3293d1e29c4ca');
    expect(() => parseKeyId(KEY)).toThrow(InputError);
    try {
      parseKeyId(KEY);
    } catch (err) {
      expect((err as Error).message).not.toContain(KEY);
    }
  });
});

describe('masking', () => {
  it('shows the prefix and the last four characters, never more, also from a wrong hint', () => {
    expect(maskKey(KEY)).toBe('sk-convergence-…950e');
    expect(maskKey('some-other-key-1234567890')).toBe('…7890');
    expect(labelFromHint('sk-convergence-…950e')).toBe('sk-convergence-…950e');
    expect(labelFromHint(KEY)).toBe('sk-convergence-…950e');
  });
});

describe('Sheets cells', () => {
  it('writes instants as wall clock in the sheet zone that the gateway reads back as the same instant', () => {
    const at = Date.parse('2030-03-04T05:06:07Z');
    expect(sheetsDateTime(at, 'UTC')).toBe('2030-03-04 05:06:07');
    expect(sheetsDateTime(at, 'Asia/Tokyo')).toBe('2030-03-04 14:06:07');
    expect(parseExpiry(sheetsDateTime(at, 'Asia/Tokyo'), 'Asia/Tokyo')).toEqual({ ok: true, expiresAt: at });
  });

  it('never writes midnight, which Sheets stores as a whole day', () => {
    expect(sheetsDateTime(Date.parse('2030-03-04T00:00:00Z'), 'UTC')).toBe('2030-03-03 23:59:59');
  });

  it('keeps text as text: formulas, numbers, dates and booleans get an apostrophe, names and keys do not', () => {
    for (const plain of ['Acme', 'Café Noir', KEY, 'sk-convergence-…950e', sha256Hex(KEY), 'team-a,team-b']) expect(sheetsText(plain)).toBe(plain);
    for (const risky of ['=IMPORTXML("x")', '+123', '-1', '@me', '007', '2024-01-01', '1/2', 'TRUE', 'false', '12e5', 'March 2024', '10 am', '$5'])
      expect(sheetsText(risky), risky).toBe(`'${risky}`);
  });
});

describe('rows as the CLI sees them', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  const header = ['Client_Name', 'extra', 'RATE_LIMIT', 'is_active', 'expires_at', 'api_key_sha256', 'key_hint', 'API_KEY'];
  const hashed = 'sk-convergence-7c9e6679-7425-40de-944b-e07fc1f90ae7';

  it('finds columns by name in any order and case, and tells statuses the way the gateway does', () => {
    const views = viewRows({
      timeZone: 'UTC',
      values: [
        header,
        ['Acme', 'x', '', 'TRUE', '', '', '', KEY],
        ['Hashed', '', 5, true, '2030-06-30', sha256Hex(hashed), 'sk-convergence-…0ae7', ''],
        ['Old', '', '', 'TRUE', '2029-01-01', '', '', 'sk-convergence-aaaaaaaa-0000-4000-8000-000000000003'],
        ['Gone', '', '', 'FALSE', '', '', '', 'sk-convergence-aaaaaaaa-0000-4000-8000-000000000004'],
        ['', '', '', '', '', '', '', ''],
        ['Broken', '', 'fast', 'TRUE', '', '', '', 'sk-convergence-aaaaaaaa-0000-4000-8000-000000000006'],
      ],
    }, { now, defaultRateLimit: 60 });
    expect(views.map((v) => [v.row, v.clientName, v.status])).toEqual([
      [2, 'Acme', 'active'], [3, 'Hashed', 'active'], [4, 'Old', 'expired'], [5, 'Gone', 'inactive'], [7, 'Broken', 'rejected'],
    ]);
    expect(views[0]).toMatchObject({ label: 'sk-convergence-…950e', keyId: '89f3293d1e29c4ca', rateLimit: 60, rateLimitIsDefault: true, hashed: false });
    expect(views[1]).toMatchObject({ label: 'sk-convergence-…0ae7', keyId: 'e06b2ef1cd00bd15', rateLimit: 5, hashed: true, expiresOnDay: true, expiry: { day: '2030-06-30' } });
    expect(views[4]!.reason).toBe('rate_limit is not a positive integer');
    expect(JSON.stringify(views)).not.toContain(KEY);
  });
});
