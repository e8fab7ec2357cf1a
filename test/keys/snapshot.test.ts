import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryKeySource } from '../../server/keys/file-source.ts';
import { sha256Hex } from '../../server/keys/keyid.ts';
import { SourceError } from '../../server/keys/sheets-source.ts';
import { KeySnapshot } from '../../server/keys/snapshot.ts';
import { KeyStore } from '../../server/keys/store.ts';
import { verifyKey } from '../../server/keys/verify.ts';
import { createLogger } from '../../server/log.ts';
import { StateDir } from '../../server/state/files.ts';

const KEY = 'sk-convergence-snap-0000000000000001';
const TABLE = {
  values: [['api_key', 'client_name', 'is_active', 'token_quota', 'quota_period', 'allowed_models'], [KEY, 'Acme', true, 100, 'day', 'm1,m2']],
  timeZone: 'Asia/Tokyo',
};
const log = createLogger('silent');
const stores: KeyStore[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(): { snapshot: KeySnapshot; source: MemoryKeySource; open(now?: () => number): KeyStore } {
  const dir = mkdtempSync(join(tmpdir(), 'cg-snap-'));
  dirs.push(dir);
  const snapshot = new KeySnapshot(new StateDir(join(dir, 'state'), log));
  const source = new MemoryKeySource(TABLE);
  return {
    snapshot,
    source,
    open: (now = Date.now) => {
      const store = new KeyStore({ source, ttlSeconds: 3600, defaultRateLimit: 60, log, snapshot, snapshotMaxAgeMs: 60_000, now, retryInitialMs: 60_000 });
      stores.push(store);
      return store;
    },
  };
}

describe('key-set snapshot', () => {
  it('round-trips every policy and the zone, keyed by hash', async () => {
    const { snapshot } = setup();
    const loaded = await setupAndLoad(snapshot);
    const back = (await snapshot.load())!;
    expect(back.timeZone).toBe('Asia/Tokyo');
    expect(back.byHash.get(sha256Hex(KEY))).toEqual(loaded.byHash.get(sha256Hex(KEY)));
  });

  it('is served only while the source is unreachable, and dropped once the source answers with a refusal', async () => {
    const { source, open, snapshot } = setup();
    await setupAndLoad(snapshot);
    source.failWith = new SourceError('Sheets API unreachable: ECONNREFUSED', null, 'sheets_unreachable: ECONNREFUSED', false);
    const store = open();
    await store.start();
    expect(store.status()).toMatchObject({ keysLoaded: 1, stale: true, snapshotAt: expect.any(String) });
    expect(verifyKey(store.keys()!, KEY, Date.now()).ok).toBe(true);
    source.failWith = new SourceError('Sheets API 403 PERMISSION_DENIED: The caller does not have permission', 403, 'sheet_not_shared', true);
    await store.reload().catch(() => undefined);
    expect(store.status()).toMatchObject({ keysLoaded: 0, snapshotAt: null });
    expect(store.keys()).toBeNull();
  });

  it('is not served when the first answer is a refusal, or when older than the limit', async () => {
    const { source, open, snapshot } = setup();
    await setupAndLoad(snapshot);
    source.failWith = new SourceError('Sheets API 404 NOT_FOUND', 404, 'sheet_not_found', true);
    const refused = open();
    await refused.start();
    expect(refused.keys()).toBeNull();
    source.failWith = new SourceError('Sheets API 503', 503, 'sheets_unavailable: 503', false);
    const late = open(() => Date.now() + 120_000);
    await late.start();
    expect(late.keys()).toBeNull();
  });
});

async function setupAndLoad(snapshot: KeySnapshot) {
  const store = new KeyStore({ source: new MemoryKeySource(TABLE), ttlSeconds: 3600, defaultRateLimit: 60, log, snapshot });
  stores.push(store);
  const keys = await store.reload();
  store.stop(); // writes the pending snapshot
  for (let i = 0; i < 100 && !(await snapshot.load()); i += 1) await new Promise((r) => setTimeout(r, 10));
  return keys;
}
