import { randomBytes } from 'node:crypto';
import { chmod, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';

/** Reads a CSV file into rows of strings (header first), tolerating a BOM and ragged rows. */
export async function readCsvTable(path: string): Promise<string[][]> {
  const text = await readFile(path, 'utf8');
  return parse(text, { bom: true, relax_column_count: true, skip_empty_lines: false }) as string[][];
}

export function csvText(rows: readonly (readonly unknown[])[]): string {
  return stringify(rows as unknown[][]);
}

/**
 * Replaces a file atomically: write a temp file beside it, fsync, rename over. A crash leaves
 * either the old file or the new one, never a truncated one. Key files get mode 0600.
 */
export async function writeFileAtomic(path: string, text: string, mode = 0o600): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', mode);
  try {
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (err) {
    // A half-written temp file holds keys too: never leave it behind.
    await rm(tmp, { force: true });
    throw err;
  }
}
