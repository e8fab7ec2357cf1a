import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { serviceAccountClient } from '../../server/google/auth.ts';
import { createSheetsApi } from '../../server/google/sheets.ts';
import { USAGE_COLUMNS } from '../../server/usage/columns.ts';
import { UsageFlusher } from '../../server/usage/flusher.ts';
import { UsageLedger } from '../../server/usage/ledger.ts';
import { SheetsUsageSink } from '../../server/usage/sinks.ts';
import { FakeSheets } from '../support/fake-sheets.ts';
import { SHEET_ID, serviceAccount } from '../support/stack.ts';
import { grandTotal, rowsAsRecords } from '../support/usage-reader.ts';

const HOUR = 3_600_000;
const A = { keyId: 'aaaaaaaaaaaaaaaa', clientName: 'Acme' };
let sheets: FakeSheets | null = null;
afterEach(async () => {
  await sheets?.stop();
  sheets = null;
});

/** The real googleapis client against the fake over HTTP, with the sink's timeout shortened. */
async function setup(opts: { timeoutMs?: number; cellLimit?: number; writesPerMinute?: number } = {}) {
  sheets = new FakeSheets({ cellLimit: opts.cellLimit, writesPerMinute: opts.writesPerMinute });
  await sheets.start();
  const sa = serviceAccount();
  sheets.addServiceAccount(sa.email, sa.publicKey);
  sheets.createSpreadsheet(SHEET_ID, { sharedWith: [sa.email] });
  const log = pino({ level: 'silent' });
  const sink = new SheetsUsageSink(createSheetsApi(serviceAccountClient(sa.json), sheets.url), SHEET_ID, 'Usage', log, { timeoutMs: opts.timeoutMs });
  const clock = { now: Date.parse('2026-05-04T08:00:00Z') };
  const ledger = new UsageLedger({ periodMs: HOUR, now: () => clock.now });
  const flusher = new UsageFlusher(ledger, sink, { intervalMs: 60_000, instance: 'i-1', log, now: () => clock.now, random: () => 0.5, spreadMs: 0 });
  return { sheets, sink, ledger, flusher, clock };
}

const records = (s: FakeSheets) => rowsAsRecords(s.tab(SHEET_ID, 'Usage') ?? []);

describe('usage appends to the Sheets API', () => {
  it('an append answered after the timeout lands, is resent with the same flush_id, and is counted once', async () => {
    const { sheets: fake, ledger, flusher, clock } = await setup({ timeoutMs: 300 });
    ledger.add(A, { requests: 2, prompt_tokens: 11, completion_tokens: 13 });
    clock.now += HOUR;
    fake.lateSuccess(1_000);
    expect(await flusher.tick()).toBe(false); // the gateway saw a timeout...
    expect(flusher.status().last_error).toBe('sheets_unreachable');
    expect(records(fake)).toHaveLength(1); // ...but the write landed
    expect(await flusher.tick()).toBe(true);
    const rows = records(fake);
    expect(rows).toHaveLength(2);
    expect(rows[1]).toEqual(rows[0]);
    expect(grandTotal(rows)).toEqual({ requests: 2, rate_limited: 0, prompt_tokens: 11, completion_tokens: 13 });
    // A naive reader would have counted it twice: the flush_id is what saves it.
    expect(rows.reduce((n, r) => n + Number(r.requests), 0)).toBe(4);
  });

  it('creates the Usage tab sized to its columns', async () => {
    const { sheets: fake, ledger, flusher, clock } = await setup();
    ledger.add(A, { requests: 1 });
    clock.now += HOUR;
    expect(await flusher.tick()).toBe(true);
    expect(fake.tab(SHEET_ID, 'Usage')![0]).toEqual([...USAGE_COLUMNS]);
    // Google counts the whole grid: a tab of 26 columns would cost 2.6 times as many cells.
    expect(fake.cells(SHEET_ID)).toBe(2 * USAGE_COLUMNS.length);
  });

  it('extends a round-1 header with flush_id and period_start', async () => {
    const old = ['timestamp', 'key_id', 'client_name', 'requests', 'rate_limited', 'prompt_tokens', 'completion_tokens', 'instance'];
    const second = await setup();
    second.sheets.setTab(SHEET_ID, 'Usage', [old, ['2026-01-01T00:00:00Z', 'bbbbbbbbbbbbbbbb', 'Old', 5, 0, 1, 1, 'x']]);
    second.ledger.add(A, { requests: 3 });
    second.clock.now += HOUR;
    expect(await second.flusher.tick()).toBe(true);
    const rows = records(second.sheets);
    expect(second.sheets.tab(SHEET_ID, 'Usage')![0]).toEqual([...old, 'flush_id', 'period_start']);
    expect(rows[1]).toMatchObject({ key_id: A.keyId, requests: 3, period_start: '2026-05-04T08:00:00.000Z' });
    expect(String(rows[1]!.flush_id)).toMatch(/^[0-9a-f-]{36}$/);
    expect(grandTotal(rows).requests).toBe(8); // the round-1 row, without flush_id, counts as it is
  });

  it('a write refused for the cell limit fails as sheet_full, keeps the counts, and is written once there is room', async () => {
    const { sheets: fake, ledger, flusher, clock } = await setup({ cellLimit: 25 });
    ledger.add(A, { requests: 1 });
    clock.now += HOUR;
    expect(await flusher.tick()).toBe(true); // 2 rows x 10 columns = 20 cells
    ledger.add(A, { requests: 2 });
    clock.now += HOUR;
    expect(await flusher.tick()).toBe(false);
    expect(flusher.status()).toMatchObject({ last_error: 'sheet_full', pending_flushes: 1 });
    fake.cellLimit = 100;
    expect(await flusher.tick()).toBe(true);
    expect(grandTotal(records(fake)).requests).toBe(3);
  });

  it('a write over the per-minute quota fails as sheets_quota_exceeded (429 RESOURCE_EXHAUSTED)', async () => {
    const { sheets: fake, ledger, flusher, clock } = await setup({ writesPerMinute: 3 });
    ledger.add(A, { requests: 1 });
    clock.now += HOUR;
    expect(await flusher.tick()).toBe(true); // new tab, header, append: the minute's three writes
    ledger.add(A, { requests: 1 });
    clock.now += HOUR;
    expect(await flusher.tick()).toBe(false);
    expect(flusher.status().last_error).toBe('sheets_quota_exceeded');
    expect(flusher.lastRetryMs).toBeGreaterThanOrEqual(30_000);
    expect(fake.peakWritesPerMinute()).toBe(3);
  });
});
