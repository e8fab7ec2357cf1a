import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const KEY_HEADER = 'api_key,client_name,created_at,expires_at,is_active,rate_limit';
/** Requests rotate over this many keys, spread across the file. */
const ROTATED_KEYS = 16;

export interface KeyFile {
  path: string;
  rows: number;
  /** Keys the load generator presents, in rotation. */
  sample: string[];
}

/**
 * Writes `rows` active keys `sk-convergence-<uuid>` to a CSV with the keys tab's columns. No
 * expiry and a blank rate_limit, so the gateway's (huge) RATE_LIMIT_DEFAULT applies.
 */
export function writeKeyFile(dir: string, rows: number): KeyFile {
  const lines = [KEY_HEADER];
  const sample: string[] = [];
  const every = Math.max(1, Math.floor(rows / ROTATED_KEYS));
  for (let i = 0; i < rows; i += 1) {
    const key = `sk-convergence-${randomUUID()}`;
    if (i % every === 0 && sample.length < ROTATED_KEYS) sample.push(key);
    lines.push(`${key},bench-client-${i},2025-01-01,,TRUE,`);
  }
  const path = join(dir, `keys-${rows}.csv`);
  writeFileSync(path, `${lines.join('\n')}\n`, { mode: 0o600 });
  return { path, rows, sample };
}
