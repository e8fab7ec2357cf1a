import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readCsvTable } from '../../server/keys/csv-table.ts';
import { keyId, sha256Hex } from '../../server/keys/keyid.ts';
import { parseKeyRows } from '../../server/keys/rows.ts';
import { SHEET_ID } from '../support/stack.ts';
import { inProcess, keysIn, runKeys, startSheets, stderrLines, tempDir, type SheetsFixture } from './run.ts';

const USAGE_HEADER = 'timestamp,key_id,client_name,requests,rate_limited,prompt_tokens,completion_tokens,instance,flush_id,period_start';

let fx: SheetsFixture | null = null;
const removers: Array<() => void> = [];
afterEach(async () => {
  await fx?.close();
  fx = null;
  for (const r of removers.splice(0)) r();
});

function keyFile(): { keysFile: string; env: Record<string, string> } {
  const tmp = tempDir();
  removers.push(tmp.remove);
  const keysFile = join(tmp.dir, 'keys.csv');
  return { keysFile, env: { KEYS_FILE: keysFile, KEYS_TIMEZONE: 'Europe/Berlin' } };
}

describe('quota options of the CLI', () => {
  it('add and rotate write quotas the gateway reads; rotate copies or replaces them; list shows this period\'s use from the usage rows', async () => {
    const { keysFile, env } = keyFile();
    expect((await inProcess(['init'], env)).code).toBe(0);
    const add = await runKeys(['add', '--name', 'Acme', '--token-quota', '1000', '--request-quota', '50', '--quota-period', 'week'], env);
    expect(add).toMatchObject({ code: 0, stderr: '' });
    expect(add.stdout).toContain('Quota: 1000 tokens and 50 requests per week (Europe/Berlin)');
    const [first] = keysIn(add.stdout);
    const rotate = await inProcess(['rotate', '--name', 'Acme', '--token-quota', '2000'], env);
    expect(rotate).toMatchObject({ code: 0, stderr: '' });
    expect(rotate.stdout).toContain('share the count of this period');
    const [second] = keysIn(rotate.stdout);
    const { records, rejected } = parseKeyRows(await readCsvTable(keysFile), { timeZone: 'Europe/Berlin', defaultRateLimit: 60 });
    expect(rejected).toEqual([]);
    expect(records.map((r) => [r.keyHash, r.tokenQuota, r.requestQuota, r.quotaPeriod])).toEqual([
      [sha256Hex(first!), 1000, 50, 'week'],
      [sha256Hex(second!), 2000, 50, 'week'],
    ]);

    // Usage rows this week for both keys, one flush retried (counted once), one from last month.
    const now = new Date().toISOString();
    writeFileSync(join(keysFile, '..', 'keys.usage.csv'), [
      USAGE_HEADER,
      `${now},${keyId(first!)},Acme,3,0,100,200,a,f1,`,
      `${now},${keyId(first!)},Acme,3,0,100,200,a,f1,`,
      `${now},${keyId(second!)},Acme,1,0,10,20,b,f2,`,
      '2020-01-01T00:00:00Z,' + keyId(first!) + ',Acme,9,0,999,999,a,f0,',
    ].join('\n') + '\n', { mode: 0o600 });
    const list = JSON.parse((await inProcess(['list', '--json'], env)).stdout) as { keys: Array<Record<string, any>> };
    expect(list.keys.map((k) => k.quota)).toEqual([
      { period: 'week', period_end: expect.any(String), tokens: { used: 330, limit: 1000 }, requests: { used: 4, limit: 50 } },
      { period: 'week', period_end: expect.any(String), tokens: { used: 330, limit: 2000 }, requests: { used: 4, limit: 50 } },
    ]);
    const table = await inProcess(['list'], env);
    expect(table.stdout).toContain('330/1000 tokens (33%), 4/50 requests (8%) this week');
  });

  it('refuses bad quota options without writing', async () => {
    const { keysFile, env } = keyFile();
    for (const args of [['--token-quota', '0'], ['--request-quota', '1.5'], ['--quota-period', 'year']]) {
      const run = await inProcess(['add', '--name', 'Acme', ...args], env);
      expect(run.code).toBe(2);
      expect(stderrLines(run)[0]).toMatch(/^error: --(token-quota|request-quota|quota-period): /);
    }
    await expect(readCsvTable(keysFile)).rejects.toThrow();
  });

  it('list reads the Usage and Usage (daily) tabs of the sheet', async () => {
    fx = await startSheets({ timeZone: 'Asia/Tokyo', rows: null });
    expect((await inProcess(['init'], fx.env)).code).toBe(0);
    const add = await inProcess(['add', '--name', 'Acme', '--request-quota', '10', '--quota-period', 'month'], fx.env);
    expect(add.code).toBe(0);
    const [key] = keysIn(add.stdout);
    const header = USAGE_HEADER.split(',');
    fx.sheets.setTab(SHEET_ID, 'Usage', [header, [new Date().toISOString(), keyId(key!), 'Acme', 2, 0, 5, 5, 'a', 'f1', '']]);
    const list = JSON.parse((await inProcess(['list', '--json'], fx.env)).stdout) as { keys: Array<Record<string, any>> };
    expect(list.keys[0]!.quota).toMatchObject({ period: 'month', tokens: null, requests: { used: 2, limit: 10 } });
  });
});
