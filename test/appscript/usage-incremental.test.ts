// Refresh usage reads both usage tabs, counts each (flush_id, key_id) once, writes the quota
// period's figures per client, and (review item 6) reads only new raw rows, before the lock.

import { beforeAll, describe, expect, it } from 'vitest';
import { instantOfWall } from './fakes/values.ts';
import { DAILY_HEADER, HOUR_MS, buildOnce, loadBuilt, seedKeys, type Env } from './harness.ts';
import { DAY_MS, addSums, addUsageTab, dayIn, idOf, keyOf, keyRows, sumByKey, tabSums, usageRow, type Flush } from './usage-fixtures.ts';

beforeAll(() => buildOnce());

const TZ = 'Asia/Tokyo';
const NOW = instantOfWall('2026-11-18T12:00:00', TZ); // a Wednesday
const at = (local: string) => instantOfWall(local, TZ);
const TRIGGER = { triggerUid: '1', authMode: 'FULL' };
const KEYS_HEADER = ['api_key', 'client_name', 'created_at', 'expires_at', 'is_active', 'rate_limit', 'token_quota', 'request_quota', 'quota_period'];

async function sheetAt(now = NOW): Promise<Env> {
  const env = await loadBuilt({ timeZone: TZ, now });
  env.state.uiAvailable = false;
  return env;
}

function flush(hourLocal: string, n: number, client: string, requests: number, flushId: string, extra: Partial<Flush> = {}): Flush {
  return { hour: at(hourLocal), key: keyOf(n), client, requests, prompt: requests * 10, completion: requests * 5, flushId, ...extra };
}

function totalsOf(env: Env) {
  return new Map(keyRows(env).map((r) => [String(r.client_name), { requests: r.requests, prompt: r.prompt_tokens, completion: r.completion_tokens }]));
}

describe('Refresh usage: both tabs, each flush once', () => {
  it('counts a retried flush once per key, round-1 rows as they are, and adds Usage (daily)', async () => {
    const env = await sheetAt();
    seedKeys(env, [[keyOf(1), 'Acme', '', '', true, 60], [keyOf(2), 'Acme', '', '', true, 60], [keyOf(3), 'Beta', '', '', true, 60]]);
    const flushes = [
      flush('2026-11-18T09:00:00', 1, 'Acme', 4, 'f-1'),
      flush('2026-11-18T09:00:00', 2, 'Acme', 2, 'f-1'), // same flush, another key: counts
      flush('2026-11-18T09:00:00', 1, 'Acme', 4, 'f-1', { writtenAt: at('2026-11-18T11:30:00') }), // the retry: once
      flush('2026-11-18T10:00:00', 3, 'Beta', 1, 'f-2'),
    ];
    const usage = addUsageTab(env, flushes);
    // Two round-1 rows (no flush_id, no period_start) that look alike are two flushes: both count.
    const round1 = ['2026-11-17T01:00:00.000Z', idOf(keyOf(3)), 'Beta', 3, 0, 30, 15, 'gw-1'];
    usage.gatewayAppend([round1, round1]);
    env.ss.addSheet('Usage (daily)', [DAILY_HEADER, ['2026-10-01', idOf(keyOf(1)), 'Acme', 100, 1, 1000, 500], ['2026-10-02', idOf(keyOf(3)), 'Beta', 7, 0, 70, 35]]);

    env.call('refreshUsage', TRIGGER);
    expect(totalsOf(env).get('Beta')).toEqual({ requests: 1 + 6 + 7, prompt: 10 + 60 + 70, completion: 5 + 30 + 35 });
    const rows = keyRows(env);
    expect(rows.map((r) => [r.requests, r.prompt_tokens, r.completion_tokens])).toEqual([[104, 1040, 520], [2, 20, 10], [14, 140, 70]]);
    // The retry is not a use of the key: last_used_at is when the flush was first written.
    expect((rows[0]!.last_used_at as Date).toISOString()).toBe(new Date(at('2026-11-18T10:00:00')).toISOString());

    // A retry that lands after the first refresh is still counted once.
    usage.gatewayAppend([usageRow(flushes[3]!)]);
    env.call('refreshUsage', TRIGGER);
    expect(totalsOf(env).get('Beta')).toEqual({ requests: 14, prompt: 140, completion: 70 });
  });

  it("writes each client's use in its quota period (day, week from Monday, month) and the % of each quota", async () => {
    const env = await sheetAt();
    seedKeys(env, [
      [keyOf(1), 'Acme', '', '', true, 60, 1000, 10, 'day'],
      [keyOf(2), ' Acme ', '', '', true, 60, '', 40, 'Day'], // same client, shares the count; its own quotas
      [keyOf(3), 'Beta', '', '', true, 60, 5000, '', 'week'],
      [keyOf(4), 'Gamma', '', '', true, 60, '', '', ''],
    ], KEYS_HEADER);
    const flushes = [
      flush('2026-11-18T00:00:00', 1, 'Acme', 3, 'a'), // today, at local midnight (UTC: the day before)
      flush('2026-11-18T10:00:00', 2, 'Acme', 2, 'b'),
      flush('2026-11-17T23:00:00', 1, 'Acme', 50, 'c'), // yesterday
      flush('2026-11-16T00:00:00', 3, 'Beta', 7, 'd'), // Monday: this week
      flush('2026-11-15T23:00:00', 3, 'Beta', 9, 'e'), // Sunday: last week
      flush('2026-11-01T00:00:00', 4, 'Gamma', 11, 'f'), // this month
      flush('2026-10-31T23:00:00', 4, 'Gamma', 13, 'g'), // last month
    ];
    addUsageTab(env, flushes);
    env.call('refreshUsage', TRIGGER);
    const period = keyRows(env).map((r) => [r.period_requests, r.period_tokens, r.token_quota_used_pct, r.request_quota_used_pct]);
    // Acme today: 5 requests, 75 tokens: 7.5% of 1000 tokens, 50% of 10 requests (12.5% of key 2's 40).
    expect(period).toEqual([[5, 75, 7.5, 50], [5, 75, '', 12.5], [7, 105, 2.1, ''], [11, 165, '', '']]);

    // The next day Acme's day quota starts again; nothing is read twice for it.
    env.clock!.set(NOW + DAY_MS);
    env.call('refreshUsage', TRIGGER);
    expect(keyRows(env)[0]).toMatchObject({ period_requests: 0, period_tokens: 0, token_quota_used_pct: 0, requests: 53 });
  });
});

describe('Refresh usage reads only what is new (review item 6)', () => {
  it('reads the raw rows before taking the lock, and then only the rows appended since', async () => {
    const env = await sheetAt();
    seedKeys(env, [[keyOf(1), 'Acme', '', '', true, 60]]);
    const flushes = Array.from({ length: 50 }, (_, i) => flush('2026-11-17T00:00:00', 1, 'Acme', 1, `f-${i}`, { hour: at('2026-11-17T00:00:00') + i * HOUR_MS / 4 }));
    const usage = addUsageTab(env, flushes);
    const width = usage.header().length;
    env.ss.select('API_Keys', 2);
    env.call('refreshUsage', TRIGGER);
    expect(env.ss.cellsRead('Usage', true)).toBe(0);
    expect(env.ss.cellsRead('Usage', false)).toBe((1 + 50) * width);
    // The totals live in a hidden tab; the admin's selection stays where it was.
    expect(env.ss.sheet('Usage (state)').isSheetHidden()).toBe(true);
    expect(env.ss.getActiveSheet().getName()).toBe('API_Keys');

    env.ss.reads.length = 0;
    const more = [flush('2026-11-18T10:00:00', 1, 'Acme', 2, 'g-1'), flush('2026-11-18T11:00:00', 1, 'Acme', 3, 'g-2')];
    usage.gatewayAppend(more.map(usageRow));
    env.call('refreshUsage', TRIGGER);
    // The header, the last row read before (to tell that it is still there), and the two new rows.
    expect(env.ss.cellsRead('Usage', false)).toBe((1 + 1 + 2) * width);
    expect(env.ss.cellsRead('Usage', true)).toBe(0);
    expect(keyRows(env)[0]!.requests).toBe(55);
  });

  it('reads again under the lock when another run saved in between (here: a compaction)', async () => {
    const env = await sheetAt();
    seedKeys(env, [[keyOf(1), 'Acme', '', '', true, 60]]);
    const old = Array.from({ length: 10 }, (_, i) => flush('2026-11-01T00:00:00', 1, 'Acme', 1, `old-${i}`, { hour: at('2026-11-01T00:00:00') + i * HOUR_MS }));
    const usage = addUsageTab(env, old);
    env.call('refreshUsage', TRIGGER);
    const fresh = [flush('2026-11-18T10:00:00', 1, 'Acme', 5, 'new-1')];
    usage.gatewayAppend(fresh.map(usageRow));
    // While this refresh waits for the lock, the daily compaction moves the old rows away.
    env.lock.beforeNextTryLock = () => env.call('compactUsage', TRIGGER);
    env.call('refreshUsage', TRIGGER);
    expect(usage.rows()).toHaveLength(2);
    expect(env.ss.cellsRead('Usage', true)).toBeGreaterThan(0);
    expect(keyRows(env)[0]!.requests).toBe(15);
    env.call('refreshUsage', TRIGGER);
    expect(keyRows(env)[0]!.requests).toBe(15);
  });

  it('keeps exact totals when compaction removes rows between runs, and after the state tab or raw rows are edited', async () => {
    const env = await sheetAt();
    seedKeys(env, [[keyOf(1), 'Acme', '', '', true, 60], [keyOf(2), 'Beta', '', '', true, 60]]);
    const flushes: Flush[] = [];
    for (let d = 1; d <= 14; d++) {
      const day = `2026-11-${String(d).padStart(2, '0')}T05:00:00`;
      flushes.push(flush(day, 1, 'Acme', d, `a-${d}`), flush(day, 2, 'Beta', 2 * d, `b-${d}`));
    }
    const usage = addUsageTab(env, flushes.slice(0, 20));
    env.call('refreshUsage', TRIGGER);
    usage.gatewayAppend(flushes.slice(20, 24).map(usageRow));
    env.call('compactUsage', TRIGGER); // days before 2026-11-11 go to Usage (daily)
    usage.gatewayAppend(flushes.slice(24).map(usageRow));
    // A late retry of a flush already compacted (within retention + 7 days of the hour it covers).
    usage.gatewayAppend([usageRow(flushes[10]!)]);
    env.call('refreshUsage', TRIGGER);
    const expected = sumByKey(flushes);
    const check = () => expect(keyRows(env).map((r) => r.requests)).toEqual([expected.get(idOf(keyOf(1)))!.requests, expected.get(idOf(keyOf(2)))!.requests]);
    check();
    expect(env.ss.getSheetByName('Usage (daily)')!.rows().length).toBeGreaterThan(1);

    // An admin deletes raw rows by hand: the row the cursor remembers is gone, so both tabs are read again;
    // the hashes of what was compacted are kept, so the late retry still counts once.
    const rows = usage.rows();
    const removed = rows.slice(-3, -1).map((row) => Number(row[3])); // Acme's and Beta's last flushes, before the retry
    usage.seed([...rows.slice(0, -3), rows.at(-1)!]);
    env.call('refreshUsage', TRIGGER);
    expect(keyRows(env).map((r) => r.requests)).toEqual([expected.get(idOf(keyOf(1)))!.requests - removed[0]!, expected.get(idOf(keyOf(2)))!.requests - removed[1]!]);

    // Someone deletes the state tab: the next run reads both tabs again and counts what they hold. (The one
    // thing lost with the state is that the late retry above had already been rolled up.)
    env.ss.sheets.splice(env.ss.sheets.indexOf(env.ss.sheet('Usage (state)')), 1);
    env.call('refreshUsage', TRIGGER);
    const held = addSums(tabSums(env, 'Usage'), tabSums(env, 'Usage (daily)'));
    expect(keyRows(env).map((r) => r.requests)).toEqual([held.get(idOf(keyOf(1)))!.requests, held.get(idOf(keyOf(2)))!.requests]);
    expect(held.get(idOf(keyOf(1)))!.requests).toBe(expected.get(idOf(keyOf(1)))!.requests - removed[0]! + flushes[10]!.requests);
  });
});

describe('A backlog larger than one run', () => {
  it('is worked off over several runs, each reading at most 30,000 raw rows and compacting at most 20,000', async () => {
    const env = await sheetAt();
    seedKeys(env, [[keyOf(1), 'Acme', '', '', true, 60]]);
    const rows = Array.from({ length: 30_005 }, (_, i) => usageRow(flush('2026-10-01T00:00:00', 1, 'Acme', 1, `f${i}`, { hour: at('2026-10-01T00:00:00') + Math.floor(i / 1000) * HOUR_MS })));
    const usage = addUsageTab(env);
    usage.gatewayAppend(rows);
    const width = usage.header().length;
    env.state.uiAvailable = true;
    env.call('refreshUsage');
    expect(env.ss.cellsRead('Usage')).toBe((1 + 30_000) * width);
    expect(keyRows(env)[0]!.requests).toBe(30_000);
    expect(env.ui.messages('alert').at(-1)).toContain('5 usage rows are still to be read: run Refresh usage again.');
    env.call('refreshUsage');
    expect(keyRows(env)[0]!.requests).toBe(30_005);

    env.state.uiAvailable = false;
    env.call('compactUsage', TRIGGER);
    expect(usage.getLastRow() - 1).toBe(10_005);
    env.call('compactUsage', TRIGGER);
    expect(usage.getLastRow()).toBe(1);
    expect(tabSums(env, 'Usage (daily)').get(idOf(keyOf(1)))!.requests).toBe(30_005);
    env.call('refreshUsage', TRIGGER);
    expect(keyRows(env)[0]!.requests).toBe(30_005);
  }, 60_000);
});

describe('A year-old sheet', () => {
  it('refreshes without reading more than a day of raw rows, and its totals equal what was served', async () => {
    const start = at('2025-11-19T00:00:00');
    const env = await sheetAt(start);
    const keys = [1, 2, 3];
    seedKeys(env, keys.map((n) => [keyOf(n), `Client ${n}`, '', '', true, 60]));
    const usage = addUsageTab(env);
    const all: Flush[] = [];
    let lastDay: Flush[] = [];
    for (let day = 0; day < 365; day++) {
      lastDay = [];
      for (let h = 0; h < 24; h++) {
        for (const n of keys) {
          const hour = start + day * DAY_MS + h * HOUR_MS;
          lastDay.push({ hour, key: keyOf(n), client: `Client ${n}`, requests: 1 + ((day + h + n) % 5), prompt: 100 + n, completion: 20 + h, flushId: `d${day}-h${h}` });
        }
      }
      if (day % 30 === 7) lastDay.push({ ...lastDay[5]!, writtenAt: lastDay[5]!.hour + 3 * HOUR_MS }); // a retried flush
      all.push(...lastDay);
      env.clock!.set(start + (day + 1) * DAY_MS + 4 * HOUR_MS);
      usage.gatewayAppend(lastDay.map(usageRow));
      env.call('compactUsage', TRIGGER);
      env.ss.reads.length = 0;
      env.call('refreshUsage', TRIGGER);
    }
    // The day's refresh read the header, the row its cursor remembers and at most the day's rows; no daily row.
    const width = usage.header().length;
    expect(env.ss.cellsRead('Usage')).toBeLessThanOrEqual((1 + 1 + lastDay.length) * width);
    expect(env.ss.cellsRead('Usage (daily)')).toBe(0);
    env.ss.reads.length = 0;
    env.clock!.advance(HOUR_MS);
    env.call('refreshUsage', TRIGGER);
    expect(env.ss.cellsRead('Usage')).toBe(2 * width);
    expect(env.ss.cellsRead('Usage (daily)')).toBe(0);

    const expected = sumByKey(all);
    expect(keyRows(env).map((r) => [r.requests, r.prompt_tokens, r.completion_tokens])).toEqual(
      keys.map((n) => { const s = expected.get(idOf(keyOf(n)))!; return [s.requests, s.prompt, s.completion]; }),
    );
    // Raw plus daily hold the same totals, and raw keeps about the retention (7 days) only.
    expect(addSums(tabSums(env, 'Usage'), tabSums(env, 'Usage (daily)'))).toEqual(expected);
    expect(usage.getLastRow() - 1).toBeLessThanOrEqual(8 * 24 * keys.length + 1);
    expect(dayIn(Date.parse(String(usage.rows()[1]![9])), TZ) >= dayIn(env.clock!.now() - 8 * DAY_MS, TZ)).toBe(true);
  }, 60_000);
});
