// The key id the gateway writes to the Usage tab: the first 16 hex characters of the
// SHA-256 of the (trimmed) key, UTF-8. test/vectors/key-ids.json pins it for both sides.

import { maskKey } from './cells.ts';
import { cell, type Columns } from './columns.ts';
import { HASH_HEADER, HINT_HEADER } from './config.ts';

const KEY_ID_LENGTH = 16;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Utilities.computeDigest returns signed bytes (-128..127); `& 0xff` makes them 0..255. */
function bytesToHex(bytes: readonly number[]): string {
  return bytes.map((b) => ((b & 0xff) + 0x100).toString(16).slice(1)).join('');
}

/** Lowercase hex SHA-256 of `text` as UTF-8: what api_key_sha256 holds and the gateway compares. */
export function sha256Hex(text: string): string {
  return bytesToHex(Utilities.computeDigest(Utilities.DigestAlgorithm.SHA_256, text, Utilities.Charset.UTF_8));
}

function keyIdOf(key: string): string {
  return sha256Hex(key).slice(0, KEY_ID_LENGTH);
}

/**
 * The key id of a keys-tab row: from `api_key_sha256` when the row has one (hashed keys),
 * else from `api_key`; null for a row without a usable key.
 */
export function rowKeyId(row: readonly unknown[], columns: Columns): string | null {
  const hash = String(cell(row, columns, HASH_HEADER)).trim().toLowerCase();
  if (hash !== '') return SHA256_HEX.test(hash) ? hash.slice(0, KEY_ID_LENGTH) : null;
  const key = String(cell(row, columns, 'api_key')).trim();
  return key === '' ? null : keyIdOf(key);
}

/**
 * The cells that hold a new key on its row: the key itself, or (hashed) its SHA-256 and a
 * hint, so the sheet never holds the key. The other form's cells are blanked, so a copied
 * row never carries both (the gateway rejects a row with both).
 */
export function keyCells(key: string, hashed: boolean): Record<string, string> {
  return hashed
    ? { api_key: '', [HASH_HEADER]: sha256Hex(key), [HINT_HEADER]: maskKey(key) }
    : { api_key: key, [HASH_HEADER]: '', [HINT_HEADER]: '' };
}
