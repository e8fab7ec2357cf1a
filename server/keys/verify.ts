import { keyIdFromHash, sha256Hex } from './keyid.ts';
import type { KeySet, Verification } from './types.ts';

/** Looks a presented key up by its hash and checks it against the clock. Denials are values. */
export function verifyKey(keys: KeySet, presented: string, now: number): Verification {
  const hash = sha256Hex(presented);
  const record = keys.byHash.get(hash);
  if (!record || !record.isActive) return { ok: false, code: 'invalid_api_key', keyId: keyIdFromHash(hash) };
  if (record.expiresAt !== null && now >= record.expiresAt) {
    return { ok: false, code: 'expired_api_key', keyId: record.keyId };
  }
  return { ok: true, record };
}
