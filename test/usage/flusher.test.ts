import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { StateDir } from '../../server/state/files.ts';
import { USAGE_STATE_FILE } from '../../server/usage/batch.ts';
import { UsageWriteError } from '../../server/usage/errors.ts';
import { UsageFlusher } from '../../server/usage/flusher.ts';
import { UsageLedger } from '../../server/usage/ledger.ts';
import type { UsageRow, UsageSink } from '../../server/usage/sinks.ts';
import { grandTotal, totalsByKey } from '../support/usage-reader.ts';

const HOUR = 3_600_000;
const A = { keyId: 'aaaaaaaaaaaaaaaa', clientName: 'Acme' };
const B = { keyId: 'bbbbbbbbbbbbbbbb', clientName: 'Beta' };

/** The in-memory sink: keeps what it is given; a queued failure is thrown first ('late' lands, then throws). */
class MemorySink implements UsageSink {
  readonly description = 'memory';
  rows: UsageRow[] = [];
  appends = 0;
  failures: Array<UsageWriteError | 'late'> = [];
  async append(rows: readonly UsageRow[]): Promise<void> {
    this.appends += 1;
    const failure = this.failures.shift();
    if (failure === 'late') {
      this.rows.push(...rows);
      throw new UsageWriteError('sheets_unreachable', 'timeout of 15000ms exceeded');
    }
    if (failure) throw failure;
    this.rows.push(...rows);
  }
}

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  return { log: pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) }), lines };
}

function setup(opts: { state?: StateDir; start?: number; random?: () => number } = {}) {
  const clock = { now: opts.start ?? Date.parse('2026-03-02T10:00:00Z') };
  const ledger = new UsageLedger({ periodMs: HOUR, now: () => clock.now });
  const sink = new MemorySink();
  const { log, lines } = capture();
  const flusher = new UsageFlusher(ledger, sink, { intervalMs: 60_000, instance: 'i-1', log, now: () => clock.now, random: opts.random ?? (() => 0.5), spreadMs: 0, state: opts.state ?? null });
  return { clock, ledger, sink, flusher, lines };
}

describe('usage flushes', () => {
  it('writes one row per key per hour however often it flushes, with flush_id and period_start', async () => {
    const { clock, ledger, sink, flusher } = setup();
    for (let minute = 0; minute < 180; minute += 1) {
      ledger.add(A, { requests: 1, prompt_tokens: 2, completion_tokens: 3 });
      if (minute % 2) ledger.add(B, { requests: 1, rate_limited: 1 });
      clock.now += 60_000;
      await flusher.tick();
    }
    // Three hours closed: 2 keys x 3 hours, in three appends (one per closed hour).
    expect(sink.appends).toBe(3);
    expect(sink.rows).toHaveLength(6);
    expect(sink.rows.map((r) => r.period_start)).toEqual([
      '2026-03-02T10:00:00.000Z', '2026-03-02T10:00:00.000Z', '2026-03-02T11:00:00.000Z', '2026-03-02T11:00:00.000Z', '2026-03-02T12:00:00.000Z', '2026-03-02T12:00:00.000Z',
    ]);
    expect(new Set(sink.rows.map((r) => r.flush_id)).size).toBe(3);
    expect(sink.rows[0]).toMatchObject({ key_id: A.keyId, requests: 60, prompt_tokens: 120, completion_tokens: 180, instance: 'i-1', timestamp: '2026-03-02T11:00:00.000Z' });
    expect(sink.rows[1]).toMatchObject({ key_id: B.keyId, requests: 30, rate_limited: 30 });
    expect(await flusher.flush()).toBe(true);
    expect(sink.rows).toHaveLength(6); // nothing counted in the open hour: no empty rows
  });

  it('resends a flush that landed without an answer with the same flush_id and rows: counted once', async () => {
    const { clock, ledger, sink, flusher } = setup();
    ledger.add(A, { requests: 5, prompt_tokens: 10, completion_tokens: 20 });
    clock.now += HOUR;
    sink.failures.push('late');
    expect(await flusher.tick()).toBe(false);
    expect(flusher.status()).toMatchObject({ pending_flushes: 1, last_error: 'sheets_unreachable' });
    expect(await flusher.tick()).toBe(true);
    expect(sink.rows).toHaveLength(2);
    expect(sink.rows[1]).toEqual(sink.rows[0]);
    expect(totalsByKey(sink.rows).get(A.keyId)).toEqual({ requests: 5, rate_limited: 0, prompt_tokens: 10, completion_tokens: 20 });
    expect(flusher.status().last_error).toBeNull();
  });

  it('gives each period of a batch its own flush_id, so a reader that counts (flush_id, key_id) once misses none', async () => {
    // Found by the fault suite (npm run faults, scenario 2): a flush at shutdown sealed the closed
    // hour and the open one in one batch, and the reader dropped the second row of each key.
    const { clock, ledger, sink, flusher } = setup();
    ledger.add(A, { requests: 2, completion_tokens: 7 });
    clock.now += HOUR;
    ledger.add(A, { requests: 3, completion_tokens: 11 });
    sink.failures.push('late');
    expect(await flusher.flush()).toBe(false); // both hours in one batch; it lands unheard
    expect(await flusher.flush()).toBe(true); // resent: the very same rows
    expect(sink.rows).toHaveLength(4);
    expect(sink.rows.slice(2)).toEqual(sink.rows.slice(0, 2));
    expect(new Set(sink.rows.map((r) => r.flush_id)).size).toBe(2);
    expect(totalsByKey(sink.rows).get(A.keyId)).toEqual({ requests: 5, rate_limited: 0, prompt_tokens: 0, completion_tokens: 18 });
  });

  it('backs off on 429 with jitter and merges pending hours into one append', async () => {
    const { clock, ledger, sink, flusher, lines } = setup();
    const quota = () => new UsageWriteError('sheets_quota_exceeded', 'Sheets API 429 RESOURCE_EXHAUSTED: Quota exceeded');
    sink.failures.push(quota(), quota());
    ledger.add(A, { requests: 1 });
    clock.now += HOUR;
    expect(await flusher.tick()).toBe(false);
    expect(flusher.lastRetryMs).toBe(30_000); // 30 s x jitter 1.0 (random 0.5)
    ledger.add(A, { requests: 2 });
    clock.now += HOUR;
    expect(await flusher.tick()).toBe(false);
    expect(flusher.lastRetryMs).toBe(60_000); // doubled
    expect(flusher.status()).toMatchObject({ pending_flushes: 2, last_error: 'sheets_quota_exceeded' });
    const logged = lines.find((l) => l.error_class === 'sheets_quota_exceeded')!;
    expect(String(logged.what_to_do)).toMatch(/REDIS_URL/);
    ledger.add(B, { requests: 4 });
    clock.now += HOUR;
    const appends = sink.appends;
    expect(await flusher.tick()).toBe(true);
    expect(sink.appends).toBe(appends + 1); // three hours, one append
    expect(sink.rows.map((r) => r.requests)).toEqual([1, 2, 4]);
    expect(flusher.lastRetryMs).toBeNull();
  });

  it('jitters the 429 backoff between half and one and a half times, so replicas do not retry together', async () => {
    const delays = [];
    for (const r of [0, 0.999]) {
      const { clock, ledger, sink, flusher } = setup({ random: () => r });
      sink.failures.push(new UsageWriteError('sheets_quota_exceeded', '429'));
      ledger.add(A, { requests: 1 });
      clock.now += HOUR;
      await flusher.tick();
      delays.push(flusher.lastRetryMs);
    }
    expect(delays).toEqual([15_000, 44_970]);
  });

  it('keeps the counts of a write refused for the cell limit, and says so', async () => {
    const { clock, ledger, sink, flusher, lines } = setup();
    sink.failures.push(new UsageWriteError('sheet_full', 'Sheets API 400 INVALID_ARGUMENT: This action would increase the number of cells in the workbook above the limit of 10000000 cells.'));
    ledger.add(A, { requests: 7 });
    clock.now += HOUR;
    expect(await flusher.tick()).toBe(false);
    expect(flusher.status()).toEqual({ pending_keys: 1, pending_flushes: 1, flush_failures: 1, last_error: 'sheet_full' });
    expect(lines.find((l) => l.error_class === 'sheet_full')).toMatchObject({ level: 50, what_to_do: expect.stringMatching(/Compact usage now/) });
    expect(await flusher.tick()).toBe(true);
    expect(grandTotal(sink.rows).requests).toBe(7);
  });
});

describe('usage in STATE_DIR', () => {
  it('saves the open hour and unwritten flushes, and a restart resends them with the same flush_id', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'cg-usage-')), 'state');
    const first = setup({ state: new StateDir(dir, capture().log) });
    first.ledger.add(A, { requests: 3 });
    first.clock.now += HOUR;
    first.ledger.add(A, { requests: 1 }); // the open hour
    const down = () => new UsageWriteError('sheets_unreachable', 'ECONNREFUSED');
    first.sink.failures.push(down(), down(), down()); // the tick, and both tries at shutdown
    expect(await first.flusher.tick()).toBe(false);
    const sealed = JSON.parse(await readFile(join(dir, USAGE_STATE_FILE), 'utf8')).value.pending[0].flushId as string;
    expect(await first.flusher.stop()).toBe(false); // shutdown during the outage: open hour sealed too, both saved

    const second = setup({ state: new StateDir(dir, capture().log), start: first.clock.now });
    await second.flusher.init();
    expect(second.flusher.status().pending_flushes).toBe(2);
    expect(await second.flusher.tick()).toBe(true);
    expect(second.sink.rows.map((r) => [r.flush_id === sealed, r.requests])).toEqual([[true, 3], [false, 1]]);
    expect(JSON.parse(await readFile(join(dir, USAGE_STATE_FILE), 'utf8')).value).toEqual({ open: [], pending: [], redisOnly: [] });
  });

  it('ignores a torn or corrupt usage file with a warning and starts empty', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'cg-usage-')), 'state');
    const writer = new StateDir(dir, capture().log);
    await writer.write(USAGE_STATE_FILE, { open: [], pending: [] });
    const whole = await readFile(join(dir, USAGE_STATE_FILE), 'utf8');
    for (const bad of [whole.slice(0, whole.length / 2), JSON.stringify({ version: 1, written_at: new Date().toISOString(), value: { open: [{ keyId: 'x' }], pending: [] } })]) {
      await writeFile(join(dir, USAGE_STATE_FILE), bad);
      const { log, lines } = capture();
      const s = setup({ state: new StateDir(dir, log) });
      await s.flusher.init();
      expect(s.flusher.status()).toMatchObject({ pending_keys: 0, pending_flushes: 0 });
      expect(lines.find((l) => l.file === USAGE_STATE_FILE)).toMatchObject({ level: 40, msg: expect.stringMatching(/ignoring/) });
    }
  });
});
