import { beforeAll, describe, expect, it } from 'vitest';
import { isDate } from './fakes/values.ts';
import { HOUR_MS, KEYS_HEADER, buildOnce, loadBuilt, rowObject, seedKeys, shownKey, type Env } from './harness.ts';

beforeAll(() => buildOnce());

const KEY_A = 'sk-convergence-aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const KEY_B = 'sk-convergence-bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const KEY_C = 'sk-convergence-cccccccc-cccc-4ccc-8ccc-cccccccccccc';
const KEY_D = 'sk-convergence-dddddddd-dddd-4ddd-8ddd-dddddddddddd';
const CREATED = new Date('2025-01-01T00:00:00Z');

/** Row 2 active, 3 revoked, 4 expiring in an hour, 5 blank, 6 expired. */
function seed(env: Env) {
  return seedKeys(env, [
    [KEY_A, 'Acme', CREATED, '', true, 30],
    [KEY_B, 'Beta', CREATED, '', false, 60],
    [KEY_C, 'Gamma', CREATED, new Date(Date.now() + HOUR_MS), 'yes', 5],
    ['', '', '', '', '', ''],
    [KEY_D, 'Delta', CREATED, new Date(Date.now() - HOUR_MS), true, 60],
  ]);
}

function rowsOf(env: Env) {
  const [header = [], ...rows] = env.ss.sheet('API_Keys').rows();
  return rows.map((row) => rowObject(header, row));
}

describe.each(['revokeSelectedKey', 'rotateSelectedKey'])('%s refuses a selection that is not one key row', (action) => {
  it.each([
    ['on another tab', (env: Env) => env.ss.select('Usage', 2), 'The selection is on the "Usage" tab'],
    ['on the header row', (env: Env) => env.ss.select('API_Keys', 1, 3), 'The header row is selected'],
    ['on a blank row', (env: Env) => env.ss.select('API_Keys', 5), 'Row 5 holds no API key'],
    ['below the data', (env: Env) => env.ss.select('API_Keys', 40), 'Row 40 holds no API key'],
    ['over two rows', (env: Env) => env.ss.select('API_Keys', 2, 1, 2, 3), 'The selection spans 2 rows'],
  ])('%s', async (_what, select, message) => {
    const env = await loadBuilt();
    seed(env);
    env.ss.addSheet('Usage', [['timestamp']]);
    const before = env.ss.sheet('API_Keys').rows();
    select(env);
    env.call(action);
    const alerts = env.ui.messages('alert');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toContain(message);
    expect(alerts[0]).toContain('click a cell in its row on the "API_Keys" tab');
    expect(env.ss.sheet('API_Keys').rows()).toEqual(before);
    expect(env.ss.writes).toEqual([]);
  });
});

describe('Revoke selected key', () => {
  it('sets is_active FALSE and revoked_at now on the selected row only, after a confirmation, under the lock', async () => {
    const now = Date.parse('2099-05-06T07:08:09.250Z');
    const env = await loadBuilt({ now });
    seed(env);
    env.ss.select('API_Keys', 2, 4);
    env.ui.confirm(true);
    env.call('revokeSelectedKey');
    expect(env.ui.messages('confirm')[0]).toContain('sk-convergence-…aaaa of "Acme" (row 2)');
    expect(env.ui.messages('confirm')[0]).not.toContain(KEY_A);
    expect(rowsOf(env).map((r) => r.is_active)).toEqual([false, false, 'yes', '', true]);
    // revoked_at is added after the last column, and only the revoked row gets a time (whole seconds).
    expect(env.ss.sheet('API_Keys').header()).toEqual([...KEYS_HEADER, 'revoked_at']);
    const revokedAt = rowsOf(env).map((r) => r.revoked_at);
    expect(isDate(revokedAt[0]) && revokedAt[0].getTime()).toBe(Date.parse('2099-05-06T07:08:10Z'));
    expect(revokedAt.slice(1)).toEqual(['', '', '', '']);
    expect(env.ss.writes).toEqual([
      { sheet: 'API_Keys', op: 'setValues', row: 1, column: 7, rows: 1, columns: 1 },
      { sheet: 'API_Keys', op: 'setValue', row: 2, column: 5, rows: 1, columns: 1 },
      { sheet: 'API_Keys', op: 'setValue', row: 2, column: 7, rows: 1, columns: 1 },
    ]);
    expect(env.lock.acquired).toBe(1);
    expect(env.ui.messages('alert')).toEqual([expect.stringContaining('Revoked the key sk-convergence-…aaaa')]);
  });

  it('changes nothing when the admin says no', async () => {
    const env = await loadBuilt();
    seed(env);
    env.ss.select('API_Keys', 4);
    env.ui.confirm(false);
    env.call('revokeSelectedKey');
    expect(rowsOf(env)[2]!.is_active).toBe('yes');
    expect(env.lock.acquired).toBe(0);
  });

  it('says a revoked key is already inactive, without asking', async () => {
    const env = await loadBuilt();
    seed(env);
    env.ss.select('API_Keys', 3);
    env.call('revokeSelectedKey');
    expect(env.ui.messages('alert')).toEqual([expect.stringContaining('already inactive')]);
    expect(env.ss.writes).toEqual([]);
  });

  it('finds is_active by header in a shuffled sheet, and names a hashed key by its hint', async () => {
    const env = await loadBuilt();
    const header = ['key_hint', 'Rate_Limit', 'IS_ACTIVE', 'extra', 'client_name', 'api_key_sha256', 'api_key'];
    seedKeys(env, [['sk-…wxyz', 10, true, 'x', 'Hashed Co', 'ab'.repeat(32), '']], header);
    env.ss.select('API_Keys', 2, 7);
    env.ui.confirm(true);
    env.call('revokeSelectedKey');
    expect(env.ui.messages('confirm')[0]).toContain('sk-…wxyz of "Hashed Co"');
    const sheet = env.ss.sheet('API_Keys');
    expect(sheet.header().slice(0, 7)).toEqual(header);
    expect(sheet.rows()[1]!.slice(0, 7)).toEqual(['sk-…wxyz', 10, false, 'x', 'Hashed Co', 'ab'.repeat(32), '']);
  });

  it('writes nothing if the row changed while the confirmation was open', async () => {
    const env = await loadBuilt();
    const sheet = seed(env);
    env.ss.select('API_Keys', 2);
    env.ui.confirm(true, () => sheet.seed([KEYS_HEADER, [KEY_C, 'Gamma', CREATED, '', true, 5]]));
    env.call('revokeSelectedKey');
    expect(env.ui.messages('alert')).toEqual([expect.stringContaining('Row 2 changed in the meantime; nothing was written')]);
    expect(sheet.rows()[1]![4]).toBe(true);
    expect(env.lock.released).toBe(1);
  });
});

describe('Rotate selected key', () => {
  it('adds a key for the same client and limit, and lets the old one expire after 24 hours', async () => {
    const env = await loadBuilt();
    seed(env);
    env.ss.select('API_Keys', 2, 2);
    env.ui.confirm(true);
    const before = Date.now();
    env.call('rotateSelectedKey');
    const after = Date.now();

    expect(env.ui.messages('confirm')[0]).toMatch(/keeps working until \d{4}-\d\d-\d\d \d\d:\d\d \(Asia\/Tokyo\)/);
    const rows = rowsOf(env);
    expect(rows).toHaveLength(6);
    const old = rows[0]!;
    const fresh = rows[5]!;
    expect(old.api_key).toBe(KEY_A);
    expect(old.is_active).toBe(true);
    const oldExpiry = (old.expires_at as Date).getTime();
    expect(oldExpiry).toBeGreaterThanOrEqual(before + 24 * HOUR_MS);
    expect(oldExpiry).toBeLessThanOrEqual(Math.ceil((after + 24 * HOUR_MS) / 1000) * 1000); // whole seconds, rounded up

    expect(fresh).toMatchObject({ client_name: 'Acme', rate_limit: 30, is_active: true, expires_at: '' });
    expect(fresh.api_key).toBe(`sk-convergence-${env.utilities.uuids[0]}`);
    expect((fresh.created_at as Date).getTime()).toBeGreaterThanOrEqual(before);
    expect(shownKey(env)).toBe(fresh.api_key);
    expect(env.ui.dialogs[0]!.html).toContain('The old key sk-convergence-…aaaa keeps working until');
    expect(env.lock.acquired).toBe(1);
  });

  it('takes the grace period from the ROTATE_GRACE_HOURS script property', async () => {
    const env = await loadBuilt({ properties: { ROTATE_GRACE_HOURS: '2' } });
    seed(env);
    env.ss.select('API_Keys', 2);
    env.ui.confirm(true);
    env.call('rotateSelectedKey');
    const expiry = (rowsOf(env)[0]!.expires_at as Date).getTime();
    expect(Math.abs(expiry - (Date.now() + 2 * HOUR_MS))).toBeLessThan(5_000);
  });

  it('explains a bad ROTATE_GRACE_HOURS instead of guessing', async () => {
    const env = await loadBuilt({ properties: { ROTATE_GRACE_HOURS: 'a day' } });
    seed(env);
    env.ss.select('API_Keys', 2);
    env.call('rotateSelectedKey');
    expect(env.ui.messages('alert')).toEqual(['Script property ROTATE_GRACE_HOURS must be a number of hours >= 0, not "a day".']);
    expect(env.ss.writes).toEqual([]);
  });

  it('never lengthens the old key, and the new key keeps the old expiry and policy columns', async () => {
    const env = await loadBuilt();
    const header = ['Client_Name', 'api_key', 'allowed_models', 'expires_at', 'requests', 'rate_limit', 'is_active', 'created_at', 'notes'];
    const soon = new Date(Date.now() + HOUR_MS);
    seedKeys(env, [['Gamma', KEY_C, 'llama,qwen', soon, 42, 5, 'yes', CREATED, 'pilot']], header);
    env.ss.select('API_Keys', 2, 9);
    env.ui.confirm(true);
    env.call('rotateSelectedKey');
    const [, old, fresh] = env.ss.sheet('API_Keys').rows().map((row) => rowObject(header, row));
    expect((old!.expires_at as Date).getTime()).toBe(soon.getTime());
    expect(fresh).toMatchObject({ client_name: 'Gamma', allowed_models: 'llama,qwen', rate_limit: 5, is_active: true, notes: 'pilot', requests: '' });
    expect((fresh!.expires_at as Date).getTime()).toBe(soon.getTime());
    expect(fresh!.api_key).toBe(shownKey(env));
    expect(isDate(fresh!.created_at) && fresh!.created_at.getTime() > CREATED.getTime()).toBe(true);
  });

  it.each([
    [3, 'is inactive; use Generate key'],
    [6, 'has expired; use Generate key'],
  ])('refuses row %i (%s) without asking', async (row, message) => {
    const env = await loadBuilt();
    seed(env);
    env.ss.select('API_Keys', row);
    env.call('rotateSelectedKey');
    expect(env.ui.messages('alert')).toEqual([expect.stringContaining(message)]);
    expect(env.ss.writes).toEqual([]);
  });

  it('changes nothing when the admin says no', async () => {
    const env = await loadBuilt();
    seed(env);
    env.ss.select('API_Keys', 2);
    env.ui.confirm(false);
    env.call('rotateSelectedKey');
    expect(rowsOf(env)).toHaveLength(5);
    expect(env.ui.dialogs).toHaveLength(0);
  });

  it('writes nothing if the row changed while the confirmation was open', async () => {
    const env = await loadBuilt();
    const sheet = seed(env);
    env.ss.select('API_Keys', 2);
    env.ui.confirm(true, () => sheet.seed([KEYS_HEADER, [KEY_B, 'Beta', CREATED, '', true, 60]]));
    env.call('rotateSelectedKey');
    expect(env.ui.messages('alert')).toEqual([expect.stringContaining('Row 2 changed in the meantime')]);
    expect(sheet.rows()).toHaveLength(2);
    expect(env.ui.dialogs).toHaveLength(0);
  });
});
