// test/vectors/key-ids.json is shared with the gateway's tests: both sides must derive the
// same key id (first 16 hex of SHA-256, UTF-8) from a key.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fakeUtilities } from './fakes/services.ts';
import { USAGE_HEADER, buildOnce, loadBuilt, seedKeys } from './harness.ts';

const vectors = JSON.parse(readFileSync(resolve(import.meta.dirname, '../vectors/key-ids.json'), 'utf8')) as { key: string; key_id: string }[];

beforeAll(() => buildOnce());

describe('key id vectors', () => {
  it('cover sk-convergence keys, other ASCII keys and non-ASCII keys, and match node:crypto', () => {
    expect(vectors.some((v) => /^sk-convergence-[0-9a-f-]{36}$/.test(v.key))).toBe(true);
    expect(vectors.some((v) => /^[\x20-\x7e]+$/.test(v.key) && !v.key.startsWith('sk-convergence-'))).toBe(true);
    expect(vectors.some((v) => /[^\x00-\x7f]/.test(v.key))).toBe(true);
    for (const { key, key_id } of vectors) {
      expect(key_id).toBe(createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 16));
    }
  });

  it('the fake computeDigest returns signed bytes, as Apps Script does', () => {
    const bytes = fakeUtilities().computeDigest('sha256', vectors[0]!.key, 'UTF_8');
    expect(bytes).toHaveLength(32);
    expect(bytes.some((b) => b < 0)).toBe(true);
    expect(bytes.every((b) => Number.isInteger(b) && b >= -128 && b <= 127)).toBe(true);
  });

  it('Refresh usage derives the same key id as the vectors for every key', async () => {
    const env = await loadBuilt();
    seedKeys(env, vectors.map((v, i) => [v.key, `client ${i}`, '', '', true, 60]));
    env.ss.addSheet('Usage', [
      USAGE_HEADER,
      // A distinct request count per key: a wrong id leaves that key at 0.
      ...vectors.map((v, i) => ['2025-01-01T00:00:00Z', v.key_id, `client ${i}`, i + 1, 0, 0, 0, 'gw']),
    ]);
    env.call('refreshUsage');
    const [header = [], ...rows] = env.ss.sheet('API_Keys').rows();
    const requests = header.indexOf('requests');
    expect(rows.map((row) => row[requests])).toEqual(vectors.map((_, i) => i + 1));
  });
});
