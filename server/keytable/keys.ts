import { randomUUID } from 'node:crypto';
import { sha256Hex } from '../keys/keyid.ts';

export const KEY_PREFIX = 'sk-convergence-';
/** Optional columns of hashed rows (DESIGN.md, optional policy columns). */
export const HASH_COLUMN = 'api_key_sha256';
export const HINT_COLUMN = 'key_hint';

export function generateKey(): string {
  return `${KEY_PREFIX}${randomUUID()}`;
}

/** `sk-convergence-…abcd`: enough to recognise a key, useless to use it. Same form as the Apps Script. */
export function maskKey(key: string): string {
  return `${key.startsWith(KEY_PREFIX) ? KEY_PREFIX : ''}…${key.slice(-4)}`;
}

/**
 * The label of a hashed row from its key_hint. Rebuilt from the hint's last 4 characters, so a
 * full key pasted into key_hint by mistake is never printed.
 */
export function labelFromHint(hint: string): string {
  const text = hint.trim();
  return text ? maskKey(text) : '';
}

/** The cells that hold a key: the key itself, or (hashed) its SHA-256 and hint, so the source never holds the key. */
export function keyCells(key: string, hashed: boolean): Record<string, string> {
  return hashed ? { api_key: '', [HASH_COLUMN]: sha256Hex(key), [HINT_COLUMN]: maskKey(key) } : { api_key: key };
}
