// The rows the Apps Script writes must be rows the gateway accepts: run the menu actions in
// the vm, read the tab as the Sheets API would hand it to the gateway, and parse it with the
// gateway's own parser.

import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseKeyRows } from '../../server/keys/rows.ts';
import { instantOfWall } from './fakes/values.ts';
import { unformattedValues } from './sheet-api.ts';
import { HOUR_MS, buildOnce, createKey, generate, loadBuilt, shownKey } from './harness.ts';

beforeAll(() => buildOnce());

const sha256 = (key: string) => createHash('sha256').update(key, 'utf8').digest('hex');

describe('rows written by the menu, read by the gateway (server/keys/rows.ts)', () => {
  it.each(['Asia/Tokyo', 'America/New_York', 'UTC'])('are all accepted, with the right expiry, in %s', async (timeZone) => {
    const env = await loadBuilt({ timeZone });
    env.ui.confirm(false);
    env.call('setupSheet');

    generate(env, 'Acme', '30', '2099-12-31');
    const acmeKey = shownKey(env);
    generate(env, 'Beta', '', '2099-06-30 18:30');
    const betaKey = shownKey(env);

    env.ss.select('API_Keys', 2);
    env.ui.confirm(true);
    const rotatedAt = Date.now();
    env.call('rotateSelectedKey');
    const acmeNewKey = shownKey(env);

    env.ss.select('API_Keys', 3);
    env.ui.confirm(true);
    env.call('revokeSelectedKey');
    env.call('refreshUsage'); // adds the usage columns the gateway must ignore

    const values = unformattedValues(env.ss.sheet('API_Keys'), timeZone);
    expect(values.slice(1).every((row) => typeof row[2] === 'number')).toBe(true); // created_at as a serial
    const { records, rejected } = parseKeyRows(values, { timeZone, defaultRateLimit: 60 });
    expect(rejected).toEqual([]);
    expect(records).toHaveLength(3);
    const byHash = new Map(records.map((r) => [r.keyHash, r]));

    const acmeOld = byHash.get(sha256(acmeKey));
    expect(acmeOld).toMatchObject({ clientName: 'Acme', rateLimit: 30, isActive: true, row: 2, keyId: sha256(acmeKey).slice(0, 16) });
    expect(Math.abs(acmeOld!.expiresAt! - (rotatedAt + 24 * HOUR_MS))).toBeLessThan(5_000);

    const acmeNew = byHash.get(sha256(acmeNewKey));
    expect(acmeNew).toMatchObject({ clientName: 'Acme', rateLimit: 30, isActive: true, row: 4 });
    expect(acmeNew!.expiresAt).toBe(instantOfWall('2099-12-31T23:59:59', timeZone));

    const beta = byHash.get(sha256(betaKey));
    expect(beta).toMatchObject({ clientName: 'Beta', rateLimit: 60, isActive: false, row: 3 });
    expect(beta!.expiresAt).toBe(instantOfWall('2099-06-30T18:30:00', timeZone));
  });

  it.each(['Asia/Tokyo', 'UTC'])('accepts the hashed rows the menu writes, beside plain ones, in %s', async (timeZone) => {
    const env = await loadBuilt({ timeZone });
    env.ui.confirm(false);
    env.call('setupSheet');
    generate(env, 'Plain', '10', ''); // row 2, setting off: api_key
    const plainKey = shownKey(env);

    env.ui.confirm(true);
    env.call('toggleStoreKeyHashes');
    generate(env, 'Acme', '30', '2099-12-31'); // row 3, hashed; adds api_key_sha256 and key_hint
    const acmeKey = shownKey(env);
    generate(env, 'Beta', '', ''); // row 4, hashed
    const betaKey = shownKey(env);

    env.ss.select('API_Keys', 3);
    env.ui.confirm(true);
    const rotatedAt = Date.now();
    env.call('rotateSelectedKey'); // row 5, hashed
    const acmeNewKey = shownKey(env);
    env.ss.select('API_Keys', 2);
    env.ui.confirm(true);
    env.call('rotateSelectedKey'); // row 6: the plain key's successor, hashed
    const plainNewKey = shownKey(env);
    env.ss.select('API_Keys', 4);
    env.ui.confirm(true);
    env.call('revokeSelectedKey');
    env.call('refreshUsage');

    const sheet = env.ss.sheet('API_Keys');
    for (const key of [acmeKey, betaKey, acmeNewKey, plainNewKey]) {
      expect(sheet.rows().flat().some((value) => String(value).includes(key))).toBe(false);
    }
    const values = unformattedValues(sheet, timeZone);
    const { records, rejected } = parseKeyRows(values, { timeZone, defaultRateLimit: 60 });
    expect(rejected).toEqual([]);
    expect(records).toHaveLength(5);
    const byHash = new Map(records.map((r) => [r.keyHash, r]));

    expect(byHash.get(sha256(plainKey))).toMatchObject({ clientName: 'Plain', rateLimit: 10, isActive: true, row: 2 });
    const acmeOld = byHash.get(sha256(acmeKey));
    expect(acmeOld).toMatchObject({ clientName: 'Acme', rateLimit: 30, isActive: true, row: 3, keyId: sha256(acmeKey).slice(0, 16) });
    expect(Math.abs(acmeOld!.expiresAt! - (rotatedAt + 24 * HOUR_MS))).toBeLessThan(5_000);
    expect(byHash.get(sha256(betaKey))).toMatchObject({ clientName: 'Beta', rateLimit: 60, isActive: false, row: 4 });
    const acmeNew = byHash.get(sha256(acmeNewKey));
    expect(acmeNew).toMatchObject({ clientName: 'Acme', rateLimit: 30, isActive: true, row: 5 });
    expect(acmeNew!.expiresAt).toBe(instantOfWall('2099-12-31T23:59:59', timeZone));
    expect(byHash.get(sha256(plainNewKey))).toMatchObject({ clientName: 'Plain', rateLimit: 10, isActive: true, row: 6, expiresAt: null });
  });

  it('accepts the policy columns the form writes, and reads a midnight expiry as that instant, not a whole day', async () => {
    const timeZone = 'America/New_York';
    const env = await loadBuilt({ timeZone });
    const key = createKey(env, { client_name: '007', allowed_models: 'llama-3, qwen2', tpm_limit: '5000', token_quota: '100000', expires_at: '2099-07-04 00:00' });
    const plain = createKey(env, { client_name: 'Plain' });
    const { records, rejected } = parseKeyRows(unformattedValues(env.ss.sheet('API_Keys'), timeZone), { timeZone, defaultRateLimit: 60 });
    expect(rejected).toEqual([]);
    const byHash = new Map(records.map((r) => [r.keyHash, r]));
    expect(byHash.get(sha256(key))).toMatchObject({
      clientName: '007', tpmLimit: 5000, allowedModels: new Set(['llama-3', 'qwen2']), expiresAt: instantOfWall('2099-07-03T23:59:59', timeZone),
    });
    expect(byHash.get(sha256(plain))).toMatchObject({ clientName: 'Plain', tpmLimit: null, allowedModels: null, expiresAt: null });
  });

  it('rejects both rows when the same key is on a hashed row and on a plain row', async () => {
    const env = await loadBuilt({ documentProperties: { STORE_KEY_HASHES: 'true' } });
    generate(env, 'Acme', '', '');
    const key = shownKey(env);
    generate(env, 'Other', '', '');
    const sheet = env.ss.sheet('API_Keys');
    // Someone pastes the key they were shown into a new plain row.
    const [header = []] = sheet.rows();
    const pasted = header.map((name) => ({ api_key: key, client_name: 'Copy', is_active: true } as Record<string, unknown>)[String(name)] ?? '');
    sheet.seed([...sheet.rows(), pasted]);

    const { records, rejected } = parseKeyRows(unformattedValues(sheet, env.timeZone), { timeZone: env.timeZone, defaultRateLimit: 60 });
    expect(rejected).toEqual([
      { row: 2, reason: 'the same key is on rows 2, 4' },
      { row: 4, reason: 'the same key is on rows 2, 4' },
    ]);
    expect(records.map((r) => r.clientName)).toEqual(['Other']);
  });
});
