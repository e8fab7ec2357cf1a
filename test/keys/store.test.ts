import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../server/keys/keyid.ts';
import { FileKeySource } from '../../server/keys/file-source.ts';
import { KeyStore } from '../../server/keys/store.ts';
import { createLogger } from '../../server/log.ts';

const HEADER = 'api_key,client_name,created_at,expires_at,is_active,rate_limit';
const key = (i: number): string => `sk-convergence-store-${String(i).padStart(8, '0')}`;
const rowsText = (n: number, edit: (i: number) => string = (i) => `${key(i)},client ${i},,,TRUE,`): string =>
  `${HEADER}\n${Array.from({ length: n }, (_, i) => edit(i)).join('\n')}\n`;

/** A key file source that refuses the whole-table read: the store must stream. */
class StreamOnlySource extends FileKeySource {
  override async load(): Promise<never> {
    throw new Error('the whole-table read must not be used by the gateway');
  }
}

let store: KeyStore | null = null;
afterEach(() => {
  store?.stop();
  store = null;
});

function open(path: string): KeyStore {
  store = new KeyStore({ source: new StreamOnlySource(path, 'UTC', createLogger('silent')), ttlSeconds: 3600, defaultRateLimit: 60, log: createLogger('silent') });
  return store;
}

describe('KeyStore on a key file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-store-'));

  it('streams the file into the key set, and a reload keeps the records of unchanged rows', async () => {
    const path = join(dir, 'keys.csv');
    writeFileSync(path, rowsText(3_000));
    const s = open(path);
    const first = await s.reload();
    expect(first.byHash.size).toBe(3_000);
    expect(first.byHash.get(sha256Hex(key(7)))).toMatchObject({ clientName: 'client 7', rateLimit: 60, row: 9 });
    const before = new Map(first.byHash); // the store patches its index in place

    // Row 11 (key 9) deactivated, key 2,999 removed, one key added at the end.
    writeFileSync(path, rowsText(2_999, (i) => (i === 9 ? `${key(i)},client ${i},,,FALSE,` : `${key(i)},client ${i},,,TRUE,`)) + `${key(5_000)},new,,,TRUE,\n`);
    const second = await s.reload();
    expect(second.byHash).toBe(first.byHash); // a small change: patched, not copied
    expect(second).not.toBe(first);
    expect(second.byHash.size).toBe(3_000);
    expect(second.byHash.get(sha256Hex(key(7)))).toBe(before.get(sha256Hex(key(7))));
    expect(second.byHash.get(sha256Hex(key(9)))).not.toBe(before.get(sha256Hex(key(9))));
    expect(second.byHash.get(sha256Hex(key(9)))!.isActive).toBe(false);
    expect(second.byHash.has(sha256Hex(key(2_999)))).toBe(false);
    expect(second.byHash.get(sha256Hex(key(5_000)))!.clientName).toBe('new');
    const unchanged = [...second.byHash.values()].filter((r) => before.get(r.keyHash) === r);
    expect(unchanged).toHaveLength(2_998);

    // Every row shifted by one (a row inserted at the top): too big to patch, a new index.
    writeFileSync(path, rowsText(1, () => `${key(7_000)},top,,,TRUE,`) + rowsText(3_000).split('\n').slice(1).join('\n'));
    const third = await s.reload();
    expect(third.byHash).not.toBe(second.byHash);
    expect(third.byHash.size).toBe(3_001);
    expect(third.byHash.get(sha256Hex(key(7)))!.row).toBe(10);
    expect(second.byHash.get(sha256Hex(key(7)))!.row).toBe(9); // the served set was left alone
  });

  it('a broken header or a vanished file fails the reload and keeps the last good keys', async () => {
    const path = join(dir, 'broken.csv');
    writeFileSync(path, rowsText(500));
    const s = open(path);
    const good = await s.reload();

    writeFileSync(path, `key,name\n${key(1)},x\n`);
    await expect(s.reload()).rejects.toThrow(/no api_key/);
    expect(s.keys()).toBe(good);
    expect(s.status()).toMatchObject({ keysLoaded: 500, stale: true, lastError: expect.stringMatching(/^bad_header: /) });

    rmSync(path);
    await expect(s.reload()).rejects.toThrow(/cannot read key file .*broken\.csv: ENOENT/);
    expect(s.keys()).toBe(good);

    writeFileSync(path, '');
    await expect(s.reload()).rejects.toThrow(/empty: no header row/);
    expect(s.status()).toMatchObject({ keysLoaded: 500, stale: true });
  });
});
