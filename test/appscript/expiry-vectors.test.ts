// test/vectors/expiry.json pins how an `expires_at` cell is read, for the gateway's parser and
// the script's (Rotate, the grey-out): both must give the same instant or both refuse.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseExpiry } from '../../server/keys/dates.ts';
import { fakeUtilities } from './fakes/services.ts';
import { toSerial } from './fakes/values.ts';

interface Vector { value: string | number | { date: string }; zone: string; expires_at: string | null }
const { vectors } = JSON.parse(readFileSync(resolve(import.meta.dirname, '../vectors/expiry.json'), 'utf8')) as { vectors: Vector[] };

const expected = (v: Vector) => (v.expires_at === 'error' ? 'error' : v.expires_at === null ? null : Date.parse(v.expires_at));
const outcome = (r: { ok: true; expiresAt: number | null } | { ok: false }) => (r.ok ? r.expiresAt : 'error');
const label = (v: Vector) => `${JSON.stringify(v.value)} in ${v.zone}`;

type ParseExpiryCell = (value: unknown, timeZone: string) => { ok: true; expiresAt: number | null } | { ok: false; reason: string };
let scriptParseExpiry: ParseExpiryCell;
beforeAll(async () => {
  // The script's module reads the zone through Utilities.formatDate, as in Apps Script. Its path
  // is not a literal so that the Node typecheck does not follow it (appscript/ has its own, with
  // the Apps Script globals); `npm run build:appscript` type-checks it.
  (globalThis as Record<string, unknown>).Utilities = fakeUtilities();
  const modulePath: string = '../../appscript/src/expiry.ts';
  ({ parseExpiry: scriptParseExpiry } = (await import(modulePath)) as { parseExpiry: ParseExpiryCell });
});

describe('expires_at vectors (test/vectors/expiry.json)', () => {
  it('cover text, serials, date cells, offsets, DST and refusals', () => {
    expect(vectors.some((v) => typeof v.value === 'number')).toBe(true);
    expect(vectors.some((v) => typeof v.value === 'object')).toBe(true);
    expect(vectors.filter((v) => v.expires_at === 'error').length).toBeGreaterThan(3);
  });

  it.each(vectors.map((v) => [label(v), v] as const))('the gateway reads %s as the vector says', (_label, v) => {
    const cell = typeof v.value === 'object' ? toSerial(new Date(v.value.date), v.zone) : v.value;
    expect(outcome(parseExpiry(cell, v.zone))).toBe(expected(v));
  });

  it.each(vectors.map((v) => [label(v), v] as const))('the script reads %s as the vector says', (_label, v) => {
    const cell = typeof v.value === 'object' ? new Date(v.value.date) : v.value;
    expect(outcome(scriptParseExpiry(cell, v.zone))).toBe(expected(v));
  });

  it.each(['2099-07-04T18', '2099-W27-1', '2099-07-04T1830', 'TRUE'])('the script refuses %s, a form it does not read', (text) => {
    expect(scriptParseExpiry(text, 'UTC').ok).toBe(false);
  });
  it('the script refuses a checkbox in expires_at, as the gateway does', () => {
    expect(scriptParseExpiry(true, 'UTC').ok).toBe(false);
    expect(parseExpiry(true, 'UTC').ok).toBe(false);
  });
});
