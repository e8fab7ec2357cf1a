import { beforeAll, describe, expect, it } from 'vitest';
import { isDate, wallClock } from './fakes/values.ts';
import { KEYS_HEADER, buildOnce, loadBuilt, rowObject, seedKeys, shownKey, type Env } from './harness.ts';

const KEY_PATTERN = /^sk-convergence-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

beforeAll(() => buildOnce());

function keyRows(env: Env): Record<string, unknown>[] {
  const [header = [], ...rows] = env.ss.sheet('API_Keys').rows();
  return rows.map((row) => rowObject(header, row));
}

describe('Generate key', () => {
  it('creates the tab if needed, appends an active key with created_at now, and shows that key', async () => {
    const env = await loadBuilt();
    env.ui.answer('Acme Corp', '', '');
    const before = Date.now();
    env.call('generateKey');

    expect(env.ss.sheet('API_Keys').header()).toEqual(KEYS_HEADER);
    const rows = keyRows(env);
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row.api_key).toMatch(KEY_PATTERN);
    expect(row.api_key).toBe(`sk-convergence-${env.utilities.uuids[0]}`);
    expect(row).toMatchObject({ client_name: 'Acme Corp', expires_at: '', is_active: true, rate_limit: 60 });
    const created = (row.created_at as Date).getTime();
    expect(created).toBeGreaterThanOrEqual(before);
    expect(created).toBeLessThanOrEqual(Date.now());

    expect(env.ui.dialogs).toHaveLength(1);
    expect(shownKey(env)).toBe(row.api_key);
    expect(env.ui.dialogs[0]!.title).toContain('Acme Corp');
    expect(env.lock.acquired).toBe(1);
    expect(env.lock.released).toBe(1);
  });

  it('stores the rate limit and an expiry date as the end of that day in the spreadsheet time zone', async () => {
    const env = await loadBuilt({ timeZone: 'Asia/Tokyo' });
    seedKeys(env);
    env.ui.answer('Beta', '120', '2099-12-31');
    env.call('generateKey');
    const row = keyRows(env)[0]!;
    expect(row.rate_limit).toBe(120);
    expect(wallClock((row.expires_at as Date).getTime(), 'Asia/Tokyo')).toEqual({
      year: 2099, month: 12, day: 31, hour: 23, minute: 59, second: 59,
    });
    expect(env.ui.dialogs[0]!.html).toContain('Expires: 2099-12-31 23:59 (Asia/Tokyo)');
  });

  it('reads an expiry date and time as wall-clock time of the spreadsheet, not of the script (UTC)', async () => {
    const env = await loadBuilt({ timeZone: 'America/New_York' });
    env.ui.answer('Gamma', '5', '2099-07-04 18:30');
    env.call('generateKey');
    const expires = keyRows(env)[0]!.expires_at as Date;
    expect(wallClock(expires.getTime(), 'America/New_York')).toMatchObject({ month: 7, day: 4, hour: 18, minute: 30, second: 0 });
    expect(expires.toISOString()).toBe('2099-07-04T22:30:00.000Z'); // EDT, UTC-4
  });

  it.each([
    ['an empty name', ['', '   '], 'A client name is required.'],
    ['a formula-like name', ['=HYPERLINK("x")'], 'cannot start with ='],
    ['an overlong name', ['x'.repeat(101)], 'at most 100 characters'],
  ])('rejects %s and asks again', async (_what, bad, message) => {
    const env = await loadBuilt();
    env.ui.answer(...bad, 'Delta', '', '');
    env.call('generateKey');
    const prompts = env.ui.messages('prompt');
    expect(prompts).toHaveLength(bad.length + 3);
    for (const retry of prompts.slice(1, bad.length + 1)) {
      expect(retry).toContain(message);
      expect(retry).toContain('Client name (required)');
    }
    expect(keyRows(env).map((r) => r.client_name)).toEqual(['Delta']);
  });

  it.each(['abc', '-5', '1.5', '0', '1e3', '60 rpm'])('rejects the rate limit "%s" and asks again', async (bad) => {
    const env = await loadBuilt();
    env.ui.answer('Echo', bad, '25', '');
    env.call('generateKey');
    const prompts = env.ui.messages('prompt');
    expect(prompts[2]).toContain(`The rate limit must be a whole number of at least 1, not "${bad}"`);
    expect(keyRows(env)).toHaveLength(1);
    expect(keyRows(env)[0]!.rate_limit).toBe(25);
  });

  it.each([
    ['tomorrow', 'is not a date'],
    ['31/12/2099', 'is not a date'],
    ['2099-02-30', 'is not a real date'],
    ['2099-12-31 24:00', 'is not a real date'],
    ['2001-01-01', 'is already past'],
  ])('rejects the expiry "%s" and asks again', async (bad, message) => {
    const env = await loadBuilt();
    env.ui.answer('Foxtrot', '', bad, '');
    env.call('generateKey');
    const retry = env.ui.messages('prompt')[3]!;
    expect(retry).toContain(message);
    expect(retry).toContain('YYYY-MM-DD');
    expect(keyRows(env)[0]!.expires_at).toBe('');
  });

  it.each([0, 1, 2])('writes nothing when the admin cancels prompt %i', async (step) => {
    const env = await loadBuilt();
    const answers = ['Golf', '', ''].slice(0, step);
    env.ui.answer(...answers).cancel(step === 1 ? 'CLOSE' : 'CANCEL');
    env.call('generateKey');
    expect(env.ss.getSheetByName('API_Keys')).toBeNull();
    expect(env.ui.dialogs).toHaveLength(0);
    expect(env.lock.acquired).toBe(0);
  });

  it('can cancel after a bad answer', async () => {
    const env = await loadBuilt();
    env.ui.answer('Hotel', 'abc').cancel();
    env.call('generateKey');
    expect(env.ss.getSheetByName('API_Keys')).toBeNull();
  });

  it('writes each field under its header, whatever the column order, and keeps other columns', async () => {
    const env = await loadBuilt();
    const header = ['Notes', ' IS_ACTIVE ', 'rate_limit', 'Client_Name', 'API_KEY', 'owner', 'expires_at', 'created_at'];
    seedKeys(env, [['vip', true, 10, 'Old', 'sk-convergence-old-0000000000000000', 'ops', '', '']], header);
    env.ui.answer('India', '7', '');
    env.call('generateKey');
    const sheet = env.ss.sheet('API_Keys');
    expect(sheet.header()).toEqual(header);
    const [, old, added] = sheet.rows();
    expect(old).toEqual(['vip', true, 10, 'Old', 'sk-convergence-old-0000000000000000', 'ops', '', '']);
    const row = rowObject(header, added!);
    expect(row).toMatchObject({ notes: '', is_active: true, rate_limit: 7, client_name: 'India', owner: '', expires_at: '' });
    expect(row.api_key).toBe(shownKey(env));
    expect(isDate(row.created_at)).toBe(true);
  });

  it('adds missing contract columns after the existing ones', async () => {
    const env = await loadBuilt();
    seedKeys(env, [], ['client_name', 'api_key', 'comment']);
    env.ui.answer('Juliet', '', '');
    env.call('generateKey');
    const sheet = env.ss.sheet('API_Keys');
    expect(sheet.header()).toEqual(['client_name', 'api_key', 'comment', 'created_at', 'expires_at', 'is_active', 'rate_limit']);
    expect(sheet.rows()[1]![1]).toBe(shownKey(env));
  });

  it('escapes the client name and key in the dialog, and offers select-all and copy', async () => {
    const env = await loadBuilt();
    const name = `<img src=x onerror="alert('x')"> & Co`;
    env.ui.answer(name, '', '');
    env.call('generateKey');
    const { html } = env.ui.dialogs[0]!;
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt; &amp; Co');
    expect(html).toMatch(/<textarea id="key"[^>]*readonly/);
    expect(html).toContain('<button id="copy">');
    expect(html).toContain('field.select()');
    expect(html).toContain('navigator.clipboard.writeText');
    expect(keyRows(env)[0]!.client_name).toBe(name);
  });

  it('says so and writes nothing when another action holds the lock', async () => {
    const env = await loadBuilt();
    env.lock.busy = true;
    env.ui.answer('Kilo', '', '');
    env.call('generateKey');
    expect(env.ui.messages('alert')).toEqual([expect.stringContaining('Another API Keys action is still running')]);
    expect(env.ss.getSheetByName('API_Keys')).toBeNull();
    expect(env.ui.dialogs).toHaveLength(0);
  });

  it('gives every key a new UUID', async () => {
    const env = await loadBuilt();
    env.ui.answer('Lima', '', '');
    env.call('generateKey');
    env.ui.answer('Lima', '', '');
    env.call('generateKey');
    const keys = keyRows(env).map((r) => r.api_key);
    expect(new Set(keys).size).toBe(2);
    expect(env.ui.dialogs.map((d) => d.html.includes(String(keys[1])))).toEqual([false, true]);
  });
});
