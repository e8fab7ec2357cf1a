// Rotate and the grey-out rule against the review of issue 17 (items 1-4 and 8), with the
// gateway's own parser reading what the script leaves in the sheet. Each test failed before
// the fix it names.

import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseKeyRows } from '../../server/keys/rows.ts';
import type { FakeConditionalRule } from './fakes/rules.ts';
import { instantOfWall, isDate } from './fakes/values.ts';
import { unformattedValues } from './sheet-api.ts';
import { HOUR_MS, KEYS_HEADER, buildOnce, loadBuilt, rowObject, seedKeys, shownKey, type Env } from './harness.ts';

beforeAll(() => buildOnce());

const TZ = 'Asia/Tokyo';
const KEY = 'sk-convergence-aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const CREATED = new Date('2025-01-01T00:00:00Z');
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** What the gateway makes of the keys tab now: key hash -> first instant expired. */
function gatewayExpiries(env: Env): Map<string, number | null> {
  const { records, rejected } = parseKeyRows(unformattedValues(env.ss.sheet('API_Keys'), TZ), { timeZone: TZ, defaultRateLimit: 60 });
  expect(rejected).toEqual([]);
  return new Map(records.map((r) => [r.keyHash, r.expiresAt]));
}

function rowsOf(env: Env, header = KEYS_HEADER) {
  return env.ss.sheet('API_Keys').rows().slice(1).map((row) => rowObject(header, row));
}

async function rotateWith(expires: unknown, now: number, confirm = true) {
  const env = await loadBuilt({ timeZone: TZ, now });
  seedKeys(env, [[KEY, 'Acme', CREATED, expires, true, 30]]);
  env.ss.select('API_Keys', 2);
  if (confirm) env.ui.confirm(true);
  env.call('rotateSelectedKey');
  return env;
}

const NOW = Date.parse('2099-05-01T03:00:00.000Z'); // 2099-05-01 12:00 in Tokyo

describe('review item 1: Rotate reads expires_at text and serials by the gateway rules', () => {
  it.each([
    ['text', '2020-01-01 12:00'],
    ['a serial number', 43831.5],
    ['a date alone, as text', '2020-01-01'],
    ['text with an offset', '2099-05-01T02:00:00Z'],
  ])('refuses a key that expired, given as %s, and writes nothing', async (_what, expires) => {
    const env = await rotateWith(expires, NOW, false);
    expect(env.ui.messages('alert')).toEqual([expect.stringContaining('has expired; use Generate key')]);
    expect(env.ss.writes).toEqual([]);
  });

  it.each(['next week', '2099-02-30', true])('refuses an expiry it cannot read (%s) and says which cell to fix', async (expires) => {
    const env = await rotateWith(expires, NOW, false);
    expect(env.ui.messages('alert')).toEqual([expect.stringContaining('has an expires_at the gateway cannot read')]);
    expect(env.ss.writes).toEqual([]);
  });

  it('gives a text expiry far away to the new key as the same text, and the grace period to the old one', async () => {
    const env = await rotateWith('2099-12-31 18:00', NOW);
    const [old, fresh] = rowsOf(env);
    expect(fresh!.expires_at).toBe('2099-12-31 18:00');
    const expiries = gatewayExpiries(env);
    expect(expiries.get(sha256(KEY))).toBe(NOW + 24 * HOUR_MS);
    expect(expiries.get(sha256(shownKey(env)))).toBe(instantOfWall('2099-12-31T18:00:00', TZ));
    expect(isDate(old!.expires_at)).toBe(true);
  });

  it('greys a row whose text expiry is past, not only date cells', async () => {
    const env = await loadBuilt();
    env.ui.confirm(false);
    env.call('setupSheet');
    const rule = (env.ss.sheet('API_Keys').conditionalRules as FakeConditionalRule[])[0]!;
    // Text goes through VALUE (with the ISO T made a space); a whole number lasts through its day.
    expect(rule.formula).toContain('IF(ISNUMBER($D2), $D2, VALUE(SUBSTITUTE(TRIM($D2), "T", " ")))');
    expect(rule.formula).not.toContain('AND(ISNUMBER($D2), IF($D2=INT($D2)');
  });
});

describe('review item 2: every instant written at exact midnight is one second earlier', () => {
  it("Rotate's old-key expiry, when now + grace is midnight in the sheet's zone", async () => {
    const now = Date.parse('2099-04-30T15:00:00.000Z'); // 2099-05-01 00:00 in Tokyo
    const env = await rotateWith('', now);
    const midnight = now + 24 * HOUR_MS;
    expect(gatewayExpiries(env).get(sha256(KEY))).toBe(midnight - 1000);
  });

  it("Revoke's revoked_at and Rotate's created_at at midnight", async () => {
    const now = Date.parse('2099-04-30T15:00:00.000Z');
    const env = await rotateWith('', now);
    env.ss.select('API_Keys', 2);
    env.ui.confirm(true);
    env.call('revokeSelectedKey');
    const [old, fresh] = env.ss.sheet('API_Keys').rows().slice(1).map((row) => rowObject([...KEYS_HEADER, 'revoked_at'], row));
    expect((old!.revoked_at as Date).getTime()).toBe(now - 1000);
    expect((fresh!.created_at as Date).getTime()).toBe(now - 1000);
  });
});

describe('review item 3: Rotate honours the date-only rule for the old key', () => {
  it('a date-only expiry of tomorrow lasts through tomorrow, past the grace period: the grace period wins', async () => {
    const tomorrow = new Date(instantOfWall('2099-05-02T00:00:00', TZ)); // a date cell holding a date alone
    const env = await rotateWith(tomorrow, NOW);
    expect(gatewayExpiries(env).get(sha256(KEY))).toBe(NOW + 24 * HOUR_MS);
    expect(env.ui.messages('confirm')[0]).toContain('keeps working until 2099-05-02 12:00 (Asia/Tokyo)');
  });

  it('a date-only expiry of today ends before the grace period: the old key keeps it', async () => {
    const today = new Date(instantOfWall('2099-05-01T00:00:00', TZ));
    const env = await rotateWith(today, NOW);
    expect(rowsOf(env)[0]!.expires_at).toEqual(today);
    expect(gatewayExpiries(env).get(sha256(KEY))).toBe(instantOfWall('2099-05-02T00:00:00', TZ));
    expect(env.ui.messages('confirm')[0]).toContain('keeps working until 2099-05-02 00:00 (Asia/Tokyo)');
  });
});

describe('review item 4: Rotate copies values as values', () => {
  it('keeps text text, numbers numbers, booleans booleans and dates dates', async () => {
    const env = await loadBuilt({ timeZone: TZ, now: NOW });
    const header = [...KEYS_HEADER, 'allowed_models', 'tpm_limit', 'formula_text', 'code', 'flag_text', 'flag', 'day_text', 'day', 'percent_text', 'notes'];
    const day = new Date('2099-06-01T00:00:00Z');
    const values = ['qwen', 5000, '=1+1', '007', 'TRUE', false, '2099-12-31', day, '12%', "'quoted"];
    seedKeys(env, [[KEY, '2024', CREATED, '', true, 30, ...values]], header);
    env.ss.select('API_Keys', 2);
    env.ui.confirm(true);
    env.call('rotateSelectedKey');
    const [, copied] = env.ss.sheet('API_Keys').rows().slice(1);
    expect(copied!.slice(header.indexOf('allowed_models'))).toEqual(values);
    expect(copied![1]).toBe('2024'); // client_name
    expect(copied![5]).toBe(30);
  });
});

describe('review item 8: Rotate appends the new key before it shortens the old one', () => {
  it('writes in that order', async () => {
    const env = await rotateWith('', NOW);
    expect(env.ss.writes.map((w) => `${w.op}@${w.row}`)).toEqual(['appendRow@3', 'setValue@2']);
  });

  it('leaves the old key untouched when the append fails', async () => {
    const env = await loadBuilt({ timeZone: TZ, now: NOW });
    const sheet = seedKeys(env, [[KEY, 'Acme', CREATED, '', true, 30]]);
    sheet.appendRow = () => { throw new Error('Service Spreadsheets failed while accessing document'); };
    env.ss.select('API_Keys', 2);
    env.ui.confirm(true);
    expect(() => env.call('rotateSelectedKey')).toThrow('Service Spreadsheets failed');
    expect(sheet.rows()).toEqual([KEYS_HEADER, [KEY, 'Acme', CREATED, '', true, 30]]);
    expect(env.lock.held).toBe(false);
  });
});

describe("Rotate's key dialog", () => {
  it('escapes what it shows from the sheet', async () => {
    const env = await loadBuilt({ timeZone: TZ, now: NOW });
    const name = `<img src=x onerror="alert('x')"> & Co`;
    seedKeys(env, [[KEY, name, CREATED, '', true, 30]]);
    env.ss.select('API_Keys', 2);
    env.ui.confirm(true);
    env.call('rotateSelectedKey');
    const { html } = env.ui.dialogs[0]!;
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt; &amp; Co');
    expect(rowsOf(env)[1]!.client_name).toBe(name);
  });
});
