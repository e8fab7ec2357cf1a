import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import Papa from 'papaparse';
import { USAGE_COLUMNS } from '../../server/usage/columns.ts';
import { FileUsageSink, type UsageRow } from '../../server/usage/sinks.ts';
import { grandTotal, rowsAsRecords } from '../support/usage-reader.ts';

const parseCsv = (text: string): string[][] => Papa.parse<string[]>(text.trim()).data;

const row: UsageRow = {
  timestamp: '2026-05-04T09:00:00.000Z', key_id: 'aaaaaaaaaaaaaaaa', client_name: 'Acme, Inc', requests: 3, rate_limited: 0, prompt_tokens: 5, completion_tokens: 7,
  instance: 'i-1', flush_id: '0b8f7c1e-8a43-4a53-9e07-1df4c7a1b2c3', period_start: '2026-05-04T08:00:00.000Z',
};

describe('the usage file', () => {
  it('is created 0600 with the round-2 header', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'cg-usage-file-')), 'keys.usage.csv');
    await new FileUsageSink(path).append([row]);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const rows = rowsAsRecords(parseCsv(await readFile(path, 'utf8')));
    expect(Object.keys(rows[0]!)).toEqual([...USAGE_COLUMNS]);
    expect(rows[0]).toMatchObject({ flush_id: row.flush_id, period_start: row.period_start, client_name: 'Acme, Inc' });
  });

  it('gets flush_id and period_start added to a round-1 header; old rows keep counting', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'cg-usage-file-')), 'keys.usage.csv');
    await writeFile(path, 'timestamp,key_id,client_name,requests,rate_limited,prompt_tokens,completion_tokens,instance\n2026-01-01T00:00:00Z,bbbbbbbbbbbbbbbb,Old,4,0,1,1,x\n', { mode: 0o600 });
    await new FileUsageSink(path).append([row]);
    const text = await readFile(path, 'utf8');
    expect(text.split('\n')[0]).toBe(USAGE_COLUMNS.join(','));
    const rows = rowsAsRecords(parseCsv(text));
    expect(rows).toHaveLength(2);
    expect(grandTotal(rows).requests).toBe(7);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });
});
