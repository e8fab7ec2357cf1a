import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { csvText, readCsvTable } from '../../server/keys/csv-table.ts';

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
