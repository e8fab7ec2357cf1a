import { afterEach, describe, expect, it } from 'vitest';
import { parseExpiry } from '../../server/keys/dates.ts';
import { keyId, sha256Hex } from '../../server/keys/keyid.ts';
import { KEY_COLUMNS, parseKeyRows } from '../../server/keys/rows.ts';
import { USAGE_COLUMNS } from '../../server/usage/columns.ts';
import type { Cell } from '../support/fake-sheets.ts';
import { HEADER, SHEET_ID, serviceAccount } from '../support/stack.ts';
import { inProcess, keysIn, runKeys, startSheets, stderrLines, type SheetsFixture } from './run.ts';

const ACTIVE = 'sk-convergence-eeeeeeee-0000-4000-8000-000000000001';
const EXPIRED = 'sk-convergence-eeeeeeee-0000-4000-8000-000000000002';
const INACTIVE = 'sk-convergence-eeeeeeee-0000-4000-8000-000000000003';
const ROWS: Cell[][] = [
  [ACTIVE, 'Acme', 45000, '', true, 100],
  [EXPIRED, 'Old Co', '', 43831, true, ''], // 2020-01-01 as a sheet serial
  [INACTIVE, 'Gone Inc', '', '', false, ''],
];

let fx: SheetsFixture | null = null;
afterEach(async () => {
  await fx?.close();
  fx = null;
});

function tab(): Cell[][] {
  return fx!.sheets.tab(SHEET_ID, 'API_Keys')!;
}

function parse(zone = 'UTC') {
  return parseKeyRows(tab(), { timeZone: zone, defaultRateLimit: 60 });
}

function writes(): number {
  return ['values.update', 'values.append', 'values.batchUpdate', 'spreadsheets.batchUpdate'].reduce((n, k) => n + fx!.sheets.count(k), 0);
}

describe('Google Sheets key source', () => {
  it('init creates both tabs with headers, and a second run writes nothing', async () => {
    fx = await startSheets({ rows: null });
    const first = await runKeys(['init'], fx.env);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toContain('created tab API_Keys');
    expect(fx.sheets.tab(SHEET_ID, 'API_Keys')).toEqual([[...KEY_COLUMNS]]);
    expect(fx.sheets.tab(SHEET_ID, 'Usage')).toEqual([[...USAGE_COLUMNS]]);

    const before = writes();
    const second = await inProcess(['init'], fx.env);
    expect(second).toMatchObject({ code: 0, stderr: '' });
    expect(second.stdout).toContain('Nothing to change');
    expect(writes()).toBe(before);
  });

  it('add writes typed cells by header name (date cells in the sheet zone) that the gateway parses', async () => {
    fx = await startSheets({ timeZone: 'Asia/Tokyo', rows: ROWS });
    // Columns in another order, with an extra one the CLI must keep.
    fx.sheets.setTab(SHEET_ID, 'API_Keys', [['notes', 'RATE_LIMIT', 'client_name', 'is_active', 'expires_at', 'created_at', 'API_Key'], ['keep', 100, 'Acme', true, '', '', ACTIVE]]);
    const started = Date.now();
    const run = await runKeys(['add', '--name', 'Beta', '--rate-limit', '5', '--expires', '2099-06-30 18:00'], fx.env);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const [key] = keysIn(run.stdout);
    expect(run.stdout).toContain('row 3');
    expect(fx.sheets.count('values.append')).toBe(1);

    const row = tab()[2]!;
    expect(row.slice(0, 5)).toEqual(['', 5, 'Beta', true, expect.any(Number)]);
    expect(row[6]).toBe(key);
    // created_at is a date cell holding the Tokyo wall clock of now.
    const created = parseExpiry(row[5], 'Asia/Tokyo');
    expect(created.ok && created.expiresAt! >= started - 1000 && created.expiresAt! <= Date.now() + 1000).toBe(true);
    const { records, rejected } = parse('Asia/Tokyo');
    expect(rejected).toEqual([]);
    expect(records.find((r) => r.keyHash === sha256Hex(key!))).toMatchObject({
      clientName: 'Beta', rateLimit: 5, isActive: true, expiresAt: Date.parse('2099-06-30T09:00:00Z'),
    });
    expect(tab()[1]).toEqual(['keep', 100, 'Acme', true, '', '', ACTIVE]);
  });

  it('list reads the sheet like the gateway: serial dates, booleans, masked keys', async () => {
    fx = await startSheets({ rows: ROWS });
    const run = await runKeys(['list', '--json'], fx.env);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const keys = (JSON.parse(run.stdout) as { keys: Array<Record<string, unknown>> }).keys;
    expect(keys.map((k) => [k.client_name, k.key, k.status, k.rate_limit])).toEqual([
      ['Acme', 'sk-convergence-…0001', 'active', 100],
      ['Old Co', 'sk-convergence-…0002', 'expired', 60],
      ['Gone Inc', 'sk-convergence-…0003', 'inactive', 60],
    ]);
    expect(keys[1]!.expires_at).toBe('2020-01-02T00:00:00.000Z');
    const table = await inProcess(['list'], fx.env);
    expect(table.stdout).toMatch(/3\s+[0-9a-f]{16}\s+sk-convergence-…0002\s+Old Co\s+expired\s+60 \(default\)\s+2020-01-01/);
    for (const key of [ACTIVE, EXPIRED, INACTIVE]) expect(run.stdout + table.stdout).not.toContain(key);
  });

  it('revoke sets is_active FALSE in one batched write', async () => {
    fx = await startSheets({ rows: [...ROWS, [`${ACTIVE.slice(0, -1)}9`, 'Acme', '', '', 'TRUE', '']] });
    const run = await runKeys(['revoke', '--name', 'Acme'], fx.env);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('Revoked 2 keys');
    expect(fx.sheets.count('values.batchUpdate')).toBe(1);
    expect(tab().filter((r) => r[1] === 'Acme').map((r) => r[4])).toEqual([false, false]);
  });

  it('hash-existing rewrites every plain key, the new columns included, in one values.batchUpdate', async () => {
    fx = await startSheets({ rows: ROWS });
    const before = parse();
    const run = await runKeys(['hash-existing'], fx.env);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('Hashed 3 keys');
    expect(fx.sheets.count('values.batchUpdate')).toBe(1);
    expect(fx.sheets.count('values.update') + fx.sheets.count('values.append')).toBe(0);
    expect(tab()[0]).toEqual([...HEADER, 'api_key_sha256', 'key_hint']);
    expect(tab()[1]).toEqual(['', 'Acme', 45000, '', true, 100, sha256Hex(ACTIVE), 'sk-convergence-…0001']);
    const after = parse();
    expect(after.rejected).toEqual([]);
    expect(after.records.map(({ row, ...r }) => r)).toEqual(before.records.map(({ row, ...r }) => r));

    const rotated = await inProcess(['rotate', '--key-id', keyId(ACTIVE), '--grace', '1h', '--quiet'], fx.env);
    expect(rotated.code).toBe(0);
    const [key] = keysIn(rotated.stdout);
    // The old row was hashed, so the new one is too.
    expect(JSON.stringify(tab())).not.toContain(key);
    expect(parse().records.find((r) => r.keyHash === sha256Hex(key!))).toMatchObject({ clientName: 'Acme', rateLimit: 100 });
  });

  it('a sheet not shared with the service account: one line naming the account to share with', async () => {
    fx = await startSheets({ rows: ROWS });
    fx.sheets.unshare(SHEET_ID, serviceAccount().email);
    const run = await runKeys(['add', '--name', 'Beta'], fx.env);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(stderrLines(run)).toEqual([
      `error: Sheets API 403 PERMISSION_DENIED: The caller does not have permission — share the sheet with ${serviceAccount().email} as Editor`,
    ]);
  });

  it('a missing tab or a failing write: one line, exit 1, no key printed', async () => {
    fx = await startSheets({ rows: null });
    const missing = await inProcess(['list'], fx.env);
    expect(missing.code).toBe(1);
    expect(stderrLines(missing)).toEqual(['error: the spreadsheet has no tab named "API_Keys"; create it with: npm run keys -- init']);

    fx.sheets.setTab(SHEET_ID, 'API_Keys', [HEADER]);
    fx.sheets.fail(503, 1, 'values.append');
    const failed = await runKeys(['add', '--name', 'Beta'], fx.env);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toBe('');
    expect(stderrLines(failed)).toEqual(['error: Sheets API 503 UNAVAILABLE: injected fault 503']);
    expect(tab()).toEqual([HEADER]);
  });
});
