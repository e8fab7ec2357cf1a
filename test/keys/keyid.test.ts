import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { keyId } from '../../server/keys/keyid.ts';

// The same vectors the Apps Script tests use: both sides must name a key the same way.
const vectors = JSON.parse(readFileSync(new URL('../vectors/key-ids.json', import.meta.url), 'utf8')) as Array<{ key: string; key_id: string }>;

describe('key id', () => {
  it('is the first 16 hex of the SHA-256 of the UTF-8 key, as in the shared vectors', () => {
    expect(vectors.length).toBeGreaterThan(5);
    expect(vectors.some((v) => /[^\x00-\x7f]/.test(v.key))).toBe(true);
    for (const v of vectors) expect(keyId(v.key), v.key_id).toBe(v.key_id);
  });
});
