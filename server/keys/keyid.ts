import { hash } from 'node:crypto';

/** Lowercase hex SHA-256 of a key: the only form in which keys are indexed. One-shot: no Hash object per call. */
export function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}

/** Length of the key id: enough to tell keys apart in logs, useless for guessing the key. */
export const KEY_ID_HEX_CHARS = 16;

/** The key id logged and written to the Usage tab in place of a key. */
export function keyIdFromHash(hash: string): string {
  return hash.slice(0, KEY_ID_HEX_CHARS);
}

export function keyId(key: string): string {
  return keyIdFromHash(sha256Hex(key));
}
