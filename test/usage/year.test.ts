/**
 * A simulated year of usage for 100 busy keys on 3 replicas (no Redis: each replica writes its own
 * rows, the worst case for cells), with the clock moved, never slept. The Usage tab is compacted
 * daily by a test-side roll-up following DESIGN.md's rule (Apps Script's compactUsage() does it
 * in production): raw rows older than 7 days become one row per day and key_id in "Usage
 * (daily)", each (flush_id, key_id) counted once.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { USAGE_COLUMNS } from '../../server/usage/columns.ts';
import { classifySheetsFailure, UsageWriteError } from '../../server/usage/errors.ts';
import { UsageFlusher } from '../../server/usage/flusher.ts';
import { UsageLedger } from '../../server/usage/ledger.ts';
import type { UsageRow, UsageSink } from '../../server/usage/sinks.ts';
import { FakeSheets, GOOGLE_CELL_LIMIT, GOOGLE_WRITES_PER_MINUTE, type Cell } from '../support/fake-sheets.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MINUTE = 60_000;
const ID = 'year-sheet';
const WHO = 'gateway@test-project.iam.gserviceaccount.com';
const DAILY = ['day', 'key_id', 'client_name', 'requests', 'rate_limited', 'prompt_tokens', 'completion_tokens'];
const RETENTION_DAYS = 7;

/** Appends through the fake's own limits (cells, per-minute quota), without HTTP: 26,000 appends. */
class DirectSink implements UsageSink {
  readonly description = 'fake sheet, in process';
  constructor(private readonly sheets: FakeSheets) {}
  async append(rows: readonly UsageRow[]): Promise<void> {
    const got = this.sheets.appendDirect(ID, 'Usage', rows.map((r) => USAGE_COLUMNS.map((c) => r[c])), WHO);
    if (got.status !== 200) {
      const message = (got.body as { error: { message: string } }).error.message;
      throw new UsageWriteError(classifySheetsFailure(got.status, message), message);
    }
  }
}

/**
 * The roll-up: raw rows whose period is older than the retention go into the daily tab. Edits
 * the fake's rows in place (copying 60,000 rows a day for a year is most of a minute).
 */
function compactor(sheets: FakeSheets): (now: number) => void {
  const dailyIndex = new Map<string, Map<Cell, Cell[]>>(); // day -> key_id -> daily row
  return (now) => {
    const raw = sheets.tab(ID, 'Usage')!;
    const daily = sheets.tab(ID, 'Usage (daily)')!;
    const col = Object.fromEntries(raw[0]!.map((h, i) => [String(h), i]));
    const cutoff = new Date(Math.floor(now / DAY) * DAY - RETENTION_DAYS * DAY).toISOString();
    const seen = new Map<Cell, Set<Cell>>(); // flush_id -> key_ids counted
    const kept: Cell[][] = [];
    const periodCol = col.period_start!;
    const [flushCol, keyCol] = [col.flush_id!, col.key_id!];
    for (let i = 1; i < raw.length; i += 1) {
      const r = raw[i]!;
      const period = r[periodCol] as string;
      if (period >= cutoff) {
        kept.push(r);
        continue;
      }
      let keysOfFlush = seen.get(r[flushCol]!);
      if (!keysOfFlush) seen.set(r[flushCol]!, (keysOfFlush = new Set()));
      if (keysOfFlush.has(r[keyCol]!)) continue;
      keysOfFlush.add(r[keyCol]!);
      const day = period.slice(0, 10);
      let byKey = dailyIndex.get(day);
      if (!byKey) dailyIndex.set(day, (byKey = new Map()));
      let d = byKey.get(r[keyCol]!);
      if (!d) {
        d = [day, r[keyCol]!, r[col.client_name!]!, 0, 0, 0, 0];
        daily.push(d);
        byKey.set(r[keyCol]!, d);
      }
      d[3] = Number(d[3]) + Number(r[col.requests!]);
      d[4] = Number(d[4]) + Number(r[col.rate_limited!]);
      d[5] = Number(d[5]) + Number(r[col.prompt_tokens!]);
      d[6] = Number(d[6]) + Number(r[col.completion_tokens!]);
    }
    raw.length = 1;
    for (const r of kept) raw.push(r);
  };
}

/** What a reader totals from both tabs: raw rows once per (flush_id, key_id), plus the daily rows. */
function sheetTotals(sheets: FakeSheets): { requests: number; prompt_tokens: number; completion_tokens: number } {
  const t = { requests: 0, prompt_tokens: 0, completion_tokens: 0 };
  const [header, ...raw] = sheets.tab(ID, 'Usage')!;
  const col = Object.fromEntries(header!.map((h, i) => [String(h), i]));
  const seen = new Set<string>();
  for (const r of raw) {
    const pair = `${r[col.flush_id!]}|${r[col.key_id!]}`;
    if (seen.has(pair)) continue;
    seen.add(pair);
    t.requests += Number(r[col.requests!]);
    t.prompt_tokens += Number(r[col.prompt_tokens!]);
    t.completion_tokens += Number(r[col.completion_tokens!]);
  }
  for (const d of sheets.tab(ID, 'Usage (daily)')!.slice(1)) {
    t.requests += Number(d[3]);
    t.prompt_tokens += Number(d[5]);
    t.completion_tokens += Number(d[6]);
  }
  return t;
}

describe('a simulated year at scale', () => {
  it('100 busy keys on 3 replicas for a year: under 10% of the cell limit, never over the write quota, totals exact', async () => {
    const clock = { now: Date.parse('2026-01-01T00:00:00Z') };
    const sheets = new FakeSheets({ now: () => clock.now });
    sheets.createSpreadsheet(ID);
    const keys = Array.from({ length: 100 }, (_, i) => ({ keyId: i.toString(16).padStart(16, '0'), clientName: `client ${i}` }));
    sheets.setTab(ID, 'API_Keys', [['api_key_sha256', 'client_name'], ...keys.map((k) => [k.keyId, k.clientName])], { rowCount: 101, columnCount: 10 });
    sheets.setTab(ID, 'Usage', [[...USAGE_COLUMNS]], { rowCount: 1, columnCount: USAGE_COLUMNS.length });
    sheets.setTab(ID, 'Usage (daily)', [DAILY], { rowCount: 1, columnCount: DAILY.length });
    const log = pino({ level: 'silent' });
    const replicas = [0, 1, 2].map((i) => {
      const ledger = new UsageLedger({ periodMs: HOUR, now: () => clock.now });
      const flusher = new UsageFlusher(ledger, new DirectSink(sheets), { intervalMs: MINUTE, instance: `replica-${i}`, log, now: () => clock.now, random: () => 0.5 });
      return { ledger, flusher };
    });
    const compact = compactor(sheets);
    const served = { requests: 0, prompt_tokens: 0, completion_tokens: 0 };
    let peakCells = 0;
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return 1 + (seed % n);
    };
    const start = clock.now;
    for (let hour = 0; hour < 365 * 24; hour += 1) {
      // Traffic during the hour, every key on every replica; flushes at minutes 1 and 31.
      clock.now = start + hour * HOUR + MINUTE;
      for (const r of replicas) await r.flusher.tick();
      for (const r of replicas) {
        for (const k of keys) {
          const requests = rand(40);
          const prompt = requests * rand(500);
          const completion = requests * rand(300);
          r.ledger.add(k, { requests, prompt_tokens: prompt, completion_tokens: completion });
          served.requests += requests;
          served.prompt_tokens += prompt;
          served.completion_tokens += completion;
        }
      }
      clock.now = start + hour * HOUR + 31 * MINUTE;
      for (const r of replicas) await r.flusher.tick();
      if (hour % 24 === 3) compact(clock.now);
      peakCells = Math.max(peakCells, sheets.cells(ID));
    }
    clock.now += HOUR;
    for (const r of replicas) expect(await r.flusher.stop()).toBe(true);
    peakCells = Math.max(peakCells, sheets.cells(ID));

    expect(replicas.map((r) => r.flusher.failures)).toEqual([0, 0, 0]);
    expect(peakCells).toBeLessThan(GOOGLE_CELL_LIMIT / 10);
    expect(sheets.peakWritesPerMinute()).toBeLessThanOrEqual(GOOGLE_WRITES_PER_MINUTE);
    expect(sheetTotals(sheets)).toEqual(served);
    // The last roll-up (day 365, 03:00) took the days before the last 7 full ones: 357 days.
    expect(sheets.tab(ID, 'Usage (daily)')!.length - 1).toBe(100 * (365 - RETENTION_DAYS - 1));
    console.info(`simulated year: peak ${peakCells} cells (${((100 * peakCells) / GOOGLE_CELL_LIMIT).toFixed(1)}% of the limit), peak ${sheets.peakWritesPerMinute()} writes/minute`);
  }, 120_000);
});
