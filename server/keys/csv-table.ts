import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, open, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { parse } from 'csv-parse';
import { stringify } from 'csv-stringify/sync';

/** Small reads keep each parsing step short, so a large key file never stalls requests. */
const READ_CHUNK_BYTES = 16 * 1024;

/** Reads a CSV file into rows of strings (header first), tolerating a BOM and ragged rows. */
export async function readCsvTable(path: string): Promise<string[][]> {
  const rows: string[][] = [];
  const file = createReadStream(path, { highWaterMark: READ_CHUNK_BYTES });
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: false });
  // pipe() does not pass a read error (no such file) on: hand it to the parser's iterator.
  file.on('error', (err) => parser.destroy(err));
  file.pipe(parser);
  for await (const row of parser) rows.push(row as string[]);
  return rows;
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
