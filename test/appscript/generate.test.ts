import { beforeAll, describe, expect, it } from 'vitest';
import { isDate, wallClock } from './fakes/values.ts';
import {
  KEYS_HEADER, buildOnce, createKey, formOf, loadBuilt, rowObject, seedKeys, submitForm, type Env,
} from './harness.ts';

const KEY_PATTERN = /^sk-convergence-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** 2099-03-10 20:00 UTC is already 2099-03-11 in Tokyo. */
const NOW = Date.parse('2099-03-10T20:00:00.000Z');

beforeAll(() => buildOnce());

function keyRows(env: Env): Record<string, unknown>[] {
  const [header = [], ...rows] = env.ss.sheet('API_Keys').rows();
  return rows.map((row) => rowObject(header, row));
}

/** True when `value` is made only of what google.script.run can return (no Date, no function). */
function plain(value: unknown): boolean {
  if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return true;
  if (Array.isArray(value)) return value.every(plain);
  if (typeof value !== 'object' || Object.prototype.toString.call(value) !== '[object Object]') return false;
  return Object.values(value as object).every(plain);
}

describe('Generate key (the menu item)', () => {
  it('opens the form as one modal dialog and writes nothing', async () => {
    const env = await loadBuilt({ now: NOW });
    env.call('generateKey');
    expect(env.ui.dialogs).toHaveLength(1);
    const { title, html, output } = env.ui.dialogs[0]!;
    expect(title).toBe('Generate key');
    expect([output.width, output.height]).toEqual([520, 600]);
    expect(html).toContain('<input id="expires_at" name="expires_at" aria-describedby="expires_at-hint expires_at-error" type="date" min="2099-03-11">');
    expect(html).toContain('Valid through that day (Asia/Tokyo)');
    for (const name of ['client_name', 'rate_limit', 'expires_at', 'allowed_models', 'tpm_limit', 'token_quota', 'request_quota', 'quota_period', 'contact_email']) {
      expect(html).toContain(`<label for="${name}">`);
      expect(html).toContain(`id="${name}-error"`);
    }
    // The page's script checks the form with the server's own function, wrapped so no name leaks to window.
    expect(html).toMatch(/var checkKeyForm = \(function checkKeyForm\(form, today, defaultRateLimit\) \{/);
    expect(html).not.toMatch(/^var /m);
    expect(env.ss.getSheetByName('API_Keys')).toBeNull();
    expect(env.lock.acquired).toBe(0);
  });

  it('explains a bad script property instead of opening the form', async () => {
    const env = await loadBuilt({ properties: { ROTATE_GRACE_HOURS: 'soon' } });
    env.call('generateKey');
    expect(env.ui.dialogs).toHaveLength(0);
    expect(env.ui.messages('alert')).toEqual([expect.stringContaining('ROTATE_GRACE_HOURS')]);
  });
});

describe('createKeyFromForm', () => {
  it('creates the tab if needed, appends an active key with created_at now, and answers that key', async () => {
    const env = await loadBuilt({ now: NOW });
    const result = submitForm(env, { client_name: ' Acme Corp ' });
    expect(result.ok).toBe(true);
    if (!result.ok) return;

    expect(env.ss.sheet('API_Keys').header()).toEqual(KEYS_HEADER);
    const [row, ...others] = keyRows(env);
    expect(others).toEqual([]);
    expect(row!.api_key).toMatch(KEY_PATTERN);
    expect(row!.api_key).toBe(`sk-convergence-${env.utilities.uuids[0]}`);
    expect(row).toMatchObject({ client_name: 'Acme Corp', expires_at: '', is_active: true, rate_limit: 60 });
    expect((row!.created_at as Date).getTime()).toBe(NOW);

    expect(result).toEqual({
      ok: true, key: row!.api_key, row: 2, title: 'New API key for Acme Corp',
      lines: ['Client: Acme Corp (row 2 of API_Keys)', 'Rate limit: 60 requests per window', 'Expires: never'],
    });
    expect(plain(env.call('createKeyFromForm', formOf({ client_name: 'Again' })))).toBe(true);
    expect(env.ui.dialogs).toHaveLength(0); // the form itself shows the key
    expect([env.lock.acquired, env.lock.released]).toEqual([2, 2]);
  });

  it('stores an expiry date as the end of that day in the spreadsheet time zone, today included', async () => {
    const env = await loadBuilt({ timeZone: 'Asia/Tokyo', now: NOW });
    seedKeys(env);
    const result = submitForm(env, { client_name: 'Beta', rate_limit: '120', expires_at: '2099-03-11' });
    const row = keyRows(env)[0]!;
    expect(row.rate_limit).toBe(120);
    expect(wallClock((row.expires_at as Date).getTime(), 'Asia/Tokyo')).toEqual({ year: 2099, month: 3, day: 11, hour: 23, minute: 59, second: 59 });
    expect(result.ok && result.lines).toContain('Expires: 2099-03-11 23:59 (Asia/Tokyo)');
  });

  it('reads an expiry date and time as wall-clock time of the spreadsheet, not of the script (UTC)', async () => {
    const env = await loadBuilt({ timeZone: 'America/New_York' });
    createKey(env, { client_name: 'Gamma', expires_at: '2099-07-04 18:30' });
    const expires = keyRows(env)[0]!.expires_at as Date;
    expect(expires.toISOString()).toBe('2099-07-04T22:30:00.000Z'); // EDT, UTC-4
  });

  it('writes an expiry at exact midnight one second earlier, so the gateway does not read a whole day (review item 2)', async () => {
    const env = await loadBuilt({ timeZone: 'America/New_York' });
    createKey(env, { client_name: 'Midnight', expires_at: '2099-07-04 00:00' });
    const expires = keyRows(env)[0]!.expires_at as Date;
    expect(wallClock(expires.getTime(), 'America/New_York')).toEqual({ year: 2099, month: 7, day: 3, hour: 23, minute: 59, second: 59 });
  });

  it('writes every policy field under its column, adding only the columns it uses, typed as the gateway reads them', async () => {
    const env = await loadBuilt({ now: NOW });
    seedKeys(env, [], [...KEYS_HEADER, 'notes']);
    createKey(env, {
      client_name: 'Delta', allowed_models: ' llama-3 , qwen2 ', tpm_limit: '5000', token_quota: '1000000', quota_period: 'Week',
    });
    createKey(env, { client_name: 'Echo', request_quota: '300', contact_email: 'ops@example.com' });
    const sheet = env.ss.sheet('API_Keys');
    expect(sheet.header()).toEqual([...KEYS_HEADER, 'notes', 'allowed_models', 'tpm_limit', 'token_quota', 'quota_period', 'request_quota', 'contact_email']);
    const [delta, echo] = keyRows(env);
    expect(delta).toMatchObject({ allowed_models: 'llama-3,qwen2', tpm_limit: 5000, token_quota: 1000000, quota_period: 'week', request_quota: '', contact_email: '', notes: '' });
    expect(echo).toMatchObject({ allowed_models: '', tpm_limit: '', token_quota: '', quota_period: 'month', request_quota: 300, contact_email: 'ops@example.com' });
  });

  it('leaves quota_period blank without a quota', async () => {
    const env = await loadBuilt();
    createKey(env, { client_name: 'Foxtrot', quota_period: 'day', contact_email: 'a@b.co' });
    expect(env.ss.sheet('API_Keys').header()).toEqual([...KEYS_HEADER, 'contact_email']);
  });

  it.each([
    ['client_name', { client_name: '   ' }, 'A client name is required.'],
    ['client_name', { client_name: '=HYPERLINK("x")' }, 'cannot start with = + - @'],
    ['client_name', { client_name: '+1 555' }, 'cannot start with = + - @'],
    ['client_name', { client_name: '-x' }, 'cannot start with = + - @'],
    ['client_name', { client_name: '@team' }, 'cannot start with = + - @'],
    ['client_name', { client_name: 'x'.repeat(101) }, 'at most 100 characters (this one has 101)'],
    ['client_name', { client_name: 'two\nlines' }, 'line breaks or tabs'],
    ['rate_limit', { rate_limit: 'abc' }, 'The rate limit must be a whole number of at least 1, not "abc".'],
    ['rate_limit', { rate_limit: '0' }, 'whole number of at least 1'],
    ['rate_limit', { rate_limit: '1.5' }, 'whole number of at least 1'],
    ['rate_limit', { rate_limit: '-5' }, 'whole number of at least 1'],
    ['rate_limit', { rate_limit: '1e3' }, 'whole number of at least 1'],
    ['rate_limit', { rate_limit: '99999999999999999999' }, 'whole number of at least 1'],
    ['expires_at', { expires_at: 'tomorrow' }, 'Pick a date'],
    ['expires_at', { expires_at: '2099-02-30' }, 'is not a real date'],
    ['expires_at', { expires_at: '2099-03-10' }, 'already past (today is 2099-03-11)'],
    ['expires_at', { expires_at: '2099-03-11 04:59' }, 'already past'],
    ['allowed_models', { allowed_models: 'llama,,qwen' }, 'empty entry'],
    ['tpm_limit', { tpm_limit: '10k' }, 'The token limit must be a whole number'],
    ['token_quota', { token_quota: '0' }, 'The token quota must be a whole number'],
    ['request_quota', { request_quota: 'lots' }, 'The request quota must be a whole number'],
    ['quota_period', { request_quota: '5', quota_period: 'year' }, 'day, week or month'],
    ['contact_email', { contact_email: 'not an email' }, 'one address'],
    ['contact_email', { contact_email: 'a@b.co, c@d.co' }, 'one address'],
  ])('refuses a bad %s beside that field and writes nothing (%j)', async (field, fields, message) => {
    const env = await loadBuilt({ now: NOW });
    const result = submitForm(env, { client_name: 'Golf', ...fields });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(Object.keys(result.errors)).toEqual([field]);
    expect(result.errors[field]).toContain(message);
    expect(env.ss.getSheetByName('API_Keys')).toBeNull();
    expect(env.ss.writes).toEqual([]);
    expect(env.lock.acquired).toBe(0);
  });

  it('reports every bad field at once, and refuses what is not a form', async () => {
    const env = await loadBuilt();
    const result = submitForm(env, { client_name: '', rate_limit: 'x', tpm_limit: 'y' });
    expect(!result.ok && Object.keys(result.errors).sort()).toEqual(['client_name', 'rate_limit', 'tpm_limit']);
    expect(env.call('createKeyFromForm', null)).toMatchObject({ ok: false, errors: { client_name: 'A client name is required.' } });
    expect(env.ss.writes).toEqual([]);
  });

  it('keeps text text: a name or an address Sheets would read as a number, boolean or date', async () => {
    const env = await loadBuilt();
    for (const name of ['007', 'TRUE', '2024-03-01', '1,5', '12%']) createKey(env, { client_name: name });
    createKey(env, { client_name: 'Hotel', contact_email: '1@2.3' });
    expect(keyRows(env).map((r) => r.client_name)).toEqual(['007', 'TRUE', '2024-03-01', '1,5', '12%', 'Hotel']);
    expect(keyRows(env)[5]!.contact_email).toBe('1@2.3');
  });

  it('writes each field under its header, whatever the column order, and keeps other columns', async () => {
    const env = await loadBuilt();
    const header = ['Notes', ' IS_ACTIVE ', 'rate_limit', 'Client_Name', 'API_KEY', 'owner', 'expires_at', 'created_at'];
    seedKeys(env, [['vip', true, 10, 'Old', 'sk-convergence-old-0000000000000000', 'ops', '', '']], header);
    const key = createKey(env, { client_name: 'India', rate_limit: '7' });
    const sheet = env.ss.sheet('API_Keys');
    expect(sheet.header()).toEqual(header);
    const [, old, added] = sheet.rows();
    expect(old).toEqual(['vip', true, 10, 'Old', 'sk-convergence-old-0000000000000000', 'ops', '', '']);
    const row = rowObject(header, added!);
    expect(row).toMatchObject({ notes: '', is_active: true, rate_limit: 7, client_name: 'India', owner: '', expires_at: '', api_key: key });
    expect(isDate(row.created_at)).toBe(true);
  });

  it('adds missing contract columns after the existing ones', async () => {
    const env = await loadBuilt();
    seedKeys(env, [], ['client_name', 'api_key', 'comment']);
    const key = createKey(env, { client_name: 'Juliet' });
    const sheet = env.ss.sheet('API_Keys');
    expect(sheet.header()).toEqual(['client_name', 'api_key', 'comment', 'created_at', 'expires_at', 'is_active', 'rate_limit']);
    expect(sheet.rows()[1]![1]).toBe(key);
  });

  it('throws (the form shows it) and writes nothing when another action holds the lock', async () => {
    const env = await loadBuilt();
    env.lock.busy = true;
    expect(() => env.call('createKeyFromForm', formOf({ client_name: 'Kilo' }))).toThrow('Another API Keys action is still running');
    expect(env.ss.getSheetByName('API_Keys')).toBeNull();
  });

  it('gives every key a new UUID', async () => {
    const env = await loadBuilt();
    const keys = [createKey(env, { client_name: 'Lima' }), createKey(env, { client_name: 'Lima' })];
    expect(new Set(keys).size).toBe(2);
    expect(keyRows(env).map((r) => r.api_key)).toEqual(keys);
  });
});
