import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { csvText, readCsvTable, streamCsvRows } from '../../server/keys/csv-table.ts';

describe('readCsvTable', () => {
  it('reads quotes, commas, newlines in fields, CRLF, a BOM, blank lines, and no phantom last row', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'cg-csv-')), 'k.csv');
    writeFileSync(path, '\uFEFFapi_key,client_name\r\n"sk-a,b","Acme, ""Inc"""\r\n\r\nk2,"multi\nline"\r\n');
    expect(await readCsvTable(path)).toEqual([['api_key', 'client_name'], ['sk-a,b', 'Acme, "Inc"'], [''], ['k2', 'multi\nline']]);
  });

  it('round-trips what csvText writes, across read chunks', async () => {
    const rows = [['api_key', 'client_name'], ...Array.from({ length: 3_000 }, (_, i) => [`sk-convergence-${i}`, `Client "${i}", Café\n${i}`])];
    const path = join(mkdtempSync(join(tmpdir(), 'cg-csv-')), 'k.csv');
    writeFileSync(path, csvText(rows));
    expect(await readCsvTable(path)).toEqual(rows);
  });

  it('fails on a missing file', async () => {
    await expect(readCsvTable('/nonexistent/keys.csv')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('streamCsvRows', () => {
  const bigFile = (): { path: string; rows: string[][] } => {
    const rows = [['api_key', 'client_name'], ...Array.from({ length: 5_000 }, (_, i) => [`sk-convergence-stream-${i}`, `Client ${i}, "quoted"`])];
    const path = join(mkdtempSync(join(tmpdir(), 'cg-csv-')), 'k.csv');
    writeFileSync(path, `\uFEFF${csvText(rows)}`);
    return { path, rows };
  };

  it('hands rows over a read at a time, the same rows readCsvTable returns', async () => {
    const { path, rows } = bigFile();
    const batches: string[][][] = [];
    await streamCsvRows(path, (batch) => void batches.push(batch));
    expect(batches.length).toBeGreaterThan(5);
    expect(Math.max(...batches.map((b) => b.length))).toBeLessThan(1_000);
    expect(batches.flat()).toEqual(rows);
    expect(await readCsvTable(path)).toEqual(rows);
  });

  it('stops reading and rejects with what the consumer threw', async () => {
    const { path } = bigFile();
    let calls = 0;
    const boom = new Error('bad header');
    await expect(
      streamCsvRows(path, () => {
        calls += 1;
        if (calls === 2) throw boom;
      }),
    ).rejects.toBe(boom);
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(2);
  });

  it('rejects on a missing file without calling the consumer', async () => {
    let calls = 0;
    await expect(streamCsvRows('/nonexistent/keys.csv', () => void (calls += 1))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(calls).toBe(0);
  });
});

