// "Store only key hashes": new keys written as api_key_sha256 + key_hint, never as api_key;
// the toggle that switches it; and Rotate, Revoke, Refresh usage and Set up sheet on hashed rows.

import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FakeConditionalRule } from './fakes/rules.ts';
import { isDate } from './fakes/values.ts';
import {
  HASHED_KEYS_HEADER, HOUR_MS, KEYS_HEADER, USAGE_HEADER, buildOnce, generate, loadBuilt, rowObject, seedKeys, shownKey, submitForm, type Env,
} from './harness.ts';

beforeAll(() => buildOnce());

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const hintOf = (key: string) => `sk-convergence-…${key.slice(-4)}`;
const ON = { documentProperties: { STORE_KEY_HASHES: 'true' } };
const TAG = 'convergence-gateway:inactive-or-expired';

const KEY_A = 'sk-convergence-aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const KEY_B = 'sk-convergence-bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const CREATED = new Date('2025-01-01T00:00:00Z');

function rowsOf(env: Env): Record<string, unknown>[] {
  const [header = [], ...rows] = env.ss.sheet('API_Keys').rows();
  return rows.map((row) => rowObject(header, row));
}

/** Whether any cell of any tab holds `key` (or a text containing it). */
function sheetHolds(env: Env, key: string): boolean {
  return env.ss.sheets.some((sheet) => sheet.rows().some((row) => row.some((value) => String(value).includes(key))));
}

function greyFormulas(env: Env): string[] {
  return (env.ss.sheet('API_Keys').conditionalRules as FakeConditionalRule[]).filter((r) => r.formula.includes(TAG)).map((r) => r.formula);
}

/** A hashed row as the menu or `npm run keys -- hash-existing` writes it, under HASHED_KEYS_HEADER. */
function hashedRow(key: string, client: string, limit = 30): unknown[] {
  return ['', client, CREATED, '', true, limit, sha256(key), hintOf(key)];
}

describe('the "Store only key hashes" toggle', () => {
  it('turns the setting on after a confirmation, and the menu shows it', async () => {
    const env = await loadBuilt();
    env.ui.confirm(true);
    env.call('toggleStoreKeyHashes');
    const question = env.ui.messages('confirm')[0]!;
    expect(question).toContain('Turn on "Store only key hashes"?');
    expect(question).toContain('npm run keys -- hash-existing');
    expect(env.properties.stores.document.getProperty('STORE_KEY_HASHES')).toBe('true');
    expect(env.ui.menus.at(-1)!.items.at(-1)).toEqual({ caption: 'Store only key hashes: on', handler: 'toggleStoreKeyHashes' });
    expect(env.ui.messages('alert')).toEqual(['Store only key hashes is now on for this spreadsheet.']);
    expect(env.ss.writes).toEqual([]);
  });

  it('turns it off again', async () => {
    const env = await loadBuilt(ON);
    env.ui.confirm(true);
    env.call('toggleStoreKeyHashes');
    expect(env.ui.messages('confirm')[0]).toContain('Turn off "Store only key hashes"?');
    expect(env.properties.stores.document.getProperty('STORE_KEY_HASHES')).toBe('false');
    expect(env.ui.menus.at(-1)!.items.at(-1)).toEqual({ caption: 'Store only key hashes: off', handler: 'toggleStoreKeyHashes' });
  });

  it('changes nothing when the admin says no', async () => {
    const env = await loadBuilt();
    env.ui.confirm(false);
    env.call('toggleStoreKeyHashes');
    expect(env.properties.stores.document.getProperty('STORE_KEY_HASHES')).toBeNull();
    expect(env.ui.menus).toEqual([]);
  });

  it('overrides a script-property default for this document, and Generate key follows', async () => {
    const env = await loadBuilt({ properties: { STORE_KEY_HASHES: 'true' } });
    generate(env, 'Default On', '', '');
    env.ui.confirm(true);
    env.call('toggleStoreKeyHashes');
    expect(env.ui.messages('confirm')[0]).toContain('Turn off');
    generate(env, 'Now Off', '', '');
    const [hashed, plain] = rowsOf(env);
    expect(hashed).toMatchObject({ client_name: 'Default On', api_key: '' });
    expect(plain).toMatchObject({ client_name: 'Now Off', api_key: shownKey(env), api_key_sha256: '', key_hint: '' });
  });

  it('explains a bad STORE_KEY_HASHES instead of guessing, and writes nothing', async () => {
    const env = await loadBuilt({ properties: { STORE_KEY_HASHES: 'sometimes' } });
    env.call('generateKey');
    env.call('toggleStoreKeyHashes');
    expect(env.ui.messages('alert')).toEqual([
      'Script property STORE_KEY_HASHES must be true or false, not "sometimes".',
      'Script property STORE_KEY_HASHES must be true or false, not "sometimes".',
    ]);
    expect(env.ss.getSheetByName('API_Keys')).toBeNull();
  });
});

describe('Generate key with "Store only key hashes" on', () => {
  it('writes the hash and hint, never the key, and shows the key once', async () => {
    const env = await loadBuilt(ON);
    const result = submitForm(env, { client_name: 'Acme', rate_limit: '30' });
    if (!result.ok) throw new Error('refused');

    expect(env.ss.sheet('API_Keys').header()).toEqual(HASHED_KEYS_HEADER);
    const key = result.key;
    expect(key).toBe(`sk-convergence-${env.utilities.uuids[0]}`);
    const [row] = rowsOf(env);
    expect(row).toMatchObject({ api_key: '', client_name: 'Acme', is_active: true, rate_limit: 30, expires_at: '' });
    expect(row!.api_key_sha256).toBe(sha256(key));
    expect(row!.api_key_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(row!.key_hint).toBe(hintOf(key));
    expect(isDate(row!.created_at)).toBe(true);
    expect(sheetHolds(env, key)).toBe(false);

    expect(result.lines.at(-1)).toContain('keeps only this key\'s SHA-256 and its hint');
    expect(env.lock.acquired).toBe(1);
  });

  it('adds api_key_sha256 and key_hint after the existing columns, leaving the plain rows as they are', async () => {
    const env = await loadBuilt(ON);
    seedKeys(env, [[KEY_A, 'Old', CREATED, '', true, 60]], [...KEYS_HEADER, 'notes']);
    generate(env, 'New', '', '');
    const sheet = env.ss.sheet('API_Keys');
    expect(sheet.header()).toEqual([...KEYS_HEADER, 'notes', 'api_key_sha256', 'key_hint']);
    expect(sheet.rows()[1]).toEqual([KEY_A, 'Old', CREATED, '', true, 60, '', '', '']);
    const [, added] = rowsOf(env);
    expect(added).toMatchObject({ api_key: '', client_name: 'New', notes: '', api_key_sha256: sha256(shownKey(env)), key_hint: hintOf(shownKey(env)) });
  });

  it('writes each cell under its header in a shuffled sheet, and never reorders it', async () => {
    const env = await loadBuilt(ON);
    const header = ['Key_Hint', 'rate_limit', 'notes', ' API_KEY_SHA256 ', 'client_name', 'is_active', 'api_key', 'created_at', 'expires_at'];
    seedKeys(env, [], header);
    generate(env, 'Shuffled', '7', '');
    const sheet = env.ss.sheet('API_Keys');
    expect(sheet.header()).toEqual(header);
    const key = shownKey(env);
    const row = sheet.rows()[1]!;
    expect(row.slice(0, 7)).toEqual([hintOf(key), 7, '', sha256(key), 'Shuffled', true, '']);
    expect(isDate(row[7])).toBe(true);
    expect(row[8]).toBe('');
  });

  it('re-aims the grey-out rule at api_key_sha256 when it adds that column', async () => {
    const env = await loadBuilt();
    env.ui.confirm(false);
    env.call('setupSheet');
    expect(greyFormulas(env)).toEqual([expect.stringContaining('LEN($A2)>0')]);

    env.properties.stores.document.setProperty('STORE_KEY_HASHES', 'true');
    generate(env, 'Acme', '', '');
    // api_key is A and api_key_sha256 became G: a hashed row with is_active FALSE must grey out.
    expect(greyFormulas(env)).toEqual([expect.stringContaining('LEN($A2&$G2)>0')]);
  });

  it('adds no grey-out rule to a sheet that never had one', async () => {
    const env = await loadBuilt(ON);
    seedKeys(env);
    generate(env, 'Acme', '', '');
    expect(env.ss.sheet('API_Keys').conditionalRules).toEqual([]);
  });
});

describe('Rotate on hashed rows', () => {
  it('gives a hashed row a hashed successor even with the setting off, and adds a missing key_hint column', async () => {
    const env = await loadBuilt();
    const header = [...KEYS_HEADER, 'api_key_sha256'];
    seedKeys(env, [['', 'Acme', CREATED, '', true, 30, sha256(KEY_A)]], header);
    env.ss.select('API_Keys', 2, 3);
    env.ui.confirm(true);
    const before = Date.now();
    env.call('rotateSelectedKey');

    expect(env.ui.messages('confirm')[0]).toContain(`key id ${sha256(KEY_A).slice(0, 16)} of "Acme" (row 2)`);
    expect(env.ss.sheet('API_Keys').header()).toEqual(HASHED_KEYS_HEADER);
    const [old, fresh] = rowsOf(env);
    expect(old).toMatchObject({ api_key: '', api_key_sha256: sha256(KEY_A), key_hint: '', is_active: true });
    expect((old!.expires_at as Date).getTime()).toBeGreaterThanOrEqual(before + 24 * HOUR_MS);

    const key = shownKey(env);
    expect(fresh).toMatchObject({ api_key: '', client_name: 'Acme', rate_limit: 30, is_active: true, api_key_sha256: sha256(key), key_hint: hintOf(key) });
    expect(sheetHolds(env, key)).toBe(false);
    expect(env.ui.dialogs[0]!.html).toContain(`the hint ${hintOf(key)}`);
  });

  it('names the old key by its hint and keeps the row\'s policy columns, blanking its usage totals', async () => {
    const env = await loadBuilt();
    const header = [...HASHED_KEYS_HEADER, 'allowed_models', 'requests'];
    seedKeys(env, [[...hashedRow(KEY_A, 'Acme'), 'llama', 42]], header);
    env.ss.select('API_Keys', 2);
    env.ui.confirm(true);
    env.call('rotateSelectedKey');
    expect(env.ui.dialogs[0]!.html).toContain(`The old key ${hintOf(KEY_A)} keeps working until`);
    const [, fresh] = rowsOf(env);
    expect(fresh).toMatchObject({ allowed_models: 'llama', requests: '', api_key: '', api_key_sha256: sha256(shownKey(env)) });
  });

  it('with the setting on, replaces a plain key by a hashed one and leaves the old row plain', async () => {
    const env = await loadBuilt(ON);
    seedKeys(env, [[KEY_A, 'Acme', CREATED, '', true, 30]]);
    env.ss.select('API_Keys', 2);
    env.ui.confirm(true);
    env.call('rotateSelectedKey');
    expect(env.ss.sheet('API_Keys').header()).toEqual(HASHED_KEYS_HEADER);
    const [old, fresh] = rowsOf(env);
    expect(old).toMatchObject({ api_key: KEY_A, api_key_sha256: '', key_hint: '' });
    const key = shownKey(env);
    expect(fresh).toMatchObject({ api_key: '', api_key_sha256: sha256(key), key_hint: hintOf(key), client_name: 'Acme', rate_limit: 30 });
  });

  it('with the setting off, keeps a plain key plain and adds no hash columns', async () => {
    const env = await loadBuilt();
    seedKeys(env, [[KEY_A, 'Acme', CREATED, '', true, 30]]);
    env.ss.select('API_Keys', 2);
    env.ui.confirm(true);
    env.call('rotateSelectedKey');
    expect(env.ss.sheet('API_Keys').header()).toEqual(KEYS_HEADER);
    expect(rowsOf(env)[1]!.api_key).toBe(shownKey(env));
  });

  it('hashes the new key when the row was hashed while the confirmation was open', async () => {
    const env = await loadBuilt();
    const sheet = seedKeys(env, [[KEY_A, 'Acme', CREATED, '', true, 30]]);
    env.ss.select('API_Keys', 2);
    // What `npm run keys -- hash-existing` does meanwhile: same key, so the same key id.
    env.ui.confirm(true, () => sheet.seed([HASHED_KEYS_HEADER, hashedRow(KEY_A, 'Acme')]));
    env.call('rotateSelectedKey');
    const [old, fresh] = rowsOf(env);
    expect(old!.api_key_sha256).toBe(sha256(KEY_A));
    expect(isDate(old!.expires_at)).toBe(true);
    expect(fresh).toMatchObject({ api_key: '', api_key_sha256: sha256(shownKey(env)) });
  });
});

describe('Revoke on hashed rows', () => {
  it('revokes a key the menu stored hashed, naming it by its hint', async () => {
    const env = await loadBuilt(ON);
    generate(env, 'Acme', '', '');
    const key = shownKey(env);
    env.ss.select('API_Keys', 2, 7);
    env.ui.confirm(true);
    env.call('revokeSelectedKey');
    const question = env.ui.messages('confirm')[0]!;
    expect(question).toContain(`${hintOf(key)} of "Acme" (row 2)`);
    expect(question).not.toContain(sha256(key));
    expect(rowsOf(env)[0]).toMatchObject({ is_active: false, api_key: '', api_key_sha256: sha256(key) });
    expect(env.ui.messages('alert')).toEqual([`Revoked the key ${hintOf(key)} of "Acme" (row 2).`]);
  });
});

describe('Refresh usage on hashed rows', () => {
  it('sums the Usage rows whose key_id is the first 16 hex of api_key_sha256', async () => {
    const env = await loadBuilt(ON);
    generate(env, 'Acme', '', '');
    const acme = shownKey(env);
    generate(env, 'Beta', '', '');
    const beta = shownKey(env);
    env.ss.addSheet('Usage', [
      USAGE_HEADER,
      ['2025-03-01T10:00:00.000Z', sha256(acme).slice(0, 16), 'Acme', 5, 0, 100, 50, 'gw-1'],
      ['2025-03-01T11:00:00.000Z', sha256(acme).slice(0, 16), 'Acme', 2, 0, 20, 10, 'gw-2'],
      ['2025-03-01T12:00:00.000Z', sha256(beta).slice(0, 16), 'Beta', 1, 0, 1, 1, 'gw-1'],
      // A wrong id (the full hash, or the id of the hint) must not count.
      ['2025-03-01T13:00:00.000Z', sha256(acme), 'Acme', 9, 0, 9, 9, 'gw-1'],
      ['2025-03-01T13:00:00.000Z', sha256(hintOf(acme)).slice(0, 16), 'Acme', 9, 0, 9, 9, 'gw-1'],
    ]);
    env.call('refreshUsage');
    const [a, b] = rowsOf(env);
    expect(a).toMatchObject({ requests: 7, prompt_tokens: 120, completion_tokens: 60 });
    expect((a!.last_used_at as Date).toISOString()).toBe('2025-03-01T11:00:00.000Z');
    expect(b).toMatchObject({ requests: 1, prompt_tokens: 1, completion_tokens: 1 });
    expect(env.ui.messages('alert').at(-1)).toBe('Usage totals updated for 2 keys (5 new usage rows read); the Dashboard is rebuilt.');
  });
});

describe('Set up sheet with "Store only key hashes" on', () => {
  it('creates api_key_sha256 and key_hint, and the grey-out rule reads both key columns', async () => {
    const env = await loadBuilt(ON);
    env.ui.confirm(false);
    env.call('setupSheet');
    expect(env.ss.sheet('API_Keys').header()).toEqual(HASHED_KEYS_HEADER);
    expect(greyFormulas(env)).toEqual([expect.stringContaining('LEN($A2&$G2)>0')]);
    expect(env.ui.messages('alert')[0]).toContain('Store only key hashes: on.');
  });

  it('adds them after the existing columns of a shuffled sheet without reordering it', async () => {
    const env = await loadBuilt(ON);
    const header = ['notes', 'IS_ACTIVE', 'client_name', 'api_key', 'rate_limit', 'expires_at', 'created_at'];
    seedKeys(env, [['x', true, 'Acme', KEY_B, 5, '', CREATED]], header);
    env.ui.confirm(false);
    env.call('setupSheet');
    const sheet = env.ss.sheet('API_Keys');
    expect(sheet.header()).toEqual([...header, 'api_key_sha256', 'key_hint']);
    expect(sheet.rows()[1]).toEqual(['x', true, 'Acme', KEY_B, 5, '', CREATED, '', '']);
    expect(greyFormulas(env)).toEqual([expect.stringContaining('LEN($D2&$H2)>0')]);
    expect(env.ui.messages('alert')[0]).toContain('API_Keys: added columns api_key_sha256, key_hint.');
  });

  it('with the setting off adds neither column', async () => {
    const env = await loadBuilt();
    env.ui.confirm(false);
    env.call('setupSheet');
    expect(env.ss.sheet('API_Keys').header()).toEqual(KEYS_HEADER);
    expect(env.ui.messages('alert')[0]).toContain('Store only key hashes: off.');
  });
});
