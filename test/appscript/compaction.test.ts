// compactUsage(): raw rows older than the retention roll up into Usage (daily), one row per
// day and key, each (flush_id, key_id) once; exactly the rolled-up rows are deleted.

import { beforeAll, describe, expect, it } from 'vitest';
import { instantOfWall } from './fakes/values.ts';
import { DAILY_HEADER, HOUR_MS, buildOnce, loadBuilt, rowObject, seedKeys, type Env } from './harness.ts';
import { DAY_MS, addSums, addUsageTab, idOf, keyOf, sumByKey, tabSums, usageRow, type Flush } from './usage-fixtures.ts';

beforeAll(() => buildOnce());

const TZ = 'Asia/Tokyo';
const NOW = instantOfWall('2026-11-18T04:00:00', TZ);
const at = (local: string) => instantOfWall(local, TZ);
const TRIGGER = { triggerUid: '9', authMode: 'FULL' };

async function sheetAt(options: { retention?: string } = {}): Promise<Env> {
  const env = await loadBuilt({ timeZone: TZ, now: NOW, properties: options.retention ? { USAGE_RETENTION_DAYS: options.retention } : {} });
  seedKeys(env, [[keyOf(1), 'Acme', '', '', true, 60], [keyOf(2), 'Beta', '', '', true, 60]]);
  return env;
}

/** Two keys, every 6 hours from 2026-11-01 to 2026-11-17 (local), one flush id per time. */
function history(): Flush[] {
  const out: Flush[] = [];
  for (let t = at('2026-11-01T00:00:00'); t < at('2026-11-18T00:00:00'); t += 6 * HOUR_MS) {
    const i = out.length;
    out.push({ hour: t, key: keyOf(1), client: 'Acme', requests: 1 + (i % 3), prompt: 10, completion: 5, flushId: `f${t}` });
    out.push({ hour: t, key: keyOf(2), client: 'Beta', requests: 2, prompt: 20 + (i % 7), completion: 1, flushId: `f${t}` });
  }
  return out;
}

function dailyRows(env: Env): Record<string, unknown>[] {
  const [header = [], ...rows] = env.ss.sheet('Usage (daily)').rows();
  return rows.map((row) => rowObject(header, row));
}

const everything = (env: Env) => addSums(tabSums(env, 'Usage'), tabSums(env, 'Usage (daily)'));

describe('compactUsage', () => {
  it('rolls rows before the retention into one row per day and key, counting each flush once, and deletes them', async () => {
    const env = await sheetAt();
    const flushes = history();
    const usage = addUsageTab(env, flushes);
    usage.gatewayAppend([usageRow(flushes[4]!), usageRow(flushes[120]!)]); // retries, one old, one recent
    env.state.uiAvailable = true;
    env.call('compactUsage');

    // Retention 7 days: rows of days before 2026-11-11 (Tokyo) are compacted.
    const daily = dailyRows(env);
    expect(env.ss.sheet('Usage (daily)').header()).toEqual(DAILY_HEADER);
    const byId = [['Acme', idOf(keyOf(1))], ['Beta', idOf(keyOf(2))]].sort((a, b) => (a[1]! < b[1]! ? -1 : 1)).map(([name]) => name);
    expect(daily.map((r) => `${String(r.day)} ${String(r.client_name)}`)).toEqual(
      Array.from({ length: 10 }, (_, d) => byId.map((name) => `2026-11-${String(d + 1).padStart(2, '0')} ${name}`)).flat(),
    );
    const acmeDay3 = sumByKey(flushes, (f) => f.key === keyOf(1) && f.hour >= at('2026-11-03T00:00:00') && f.hour < at('2026-11-04T00:00:00')).get(idOf(keyOf(1)))!;
    expect(daily.find((r) => r.day === '2026-11-03' && r.client_name === 'Acme')).toMatchObject({ key_id: idOf(keyOf(1)), requests: acmeDay3.requests, rate_limited: 0, prompt_tokens: acmeDay3.prompt, completion_tokens: acmeDay3.completion });
    expect(env.ss.sheet('Usage (daily)').formats.get('2:1')).toBe('@'); // day stays text

    // What is left raw is exactly the rows from 2026-11-11 on, and the two retries (appended last).
    const left = usage.rows().slice(1);
    expect(left).toHaveLength(flushes.filter((f) => f.hour >= at('2026-11-11T00:00:00')).length + 2);
    expect(left[0]![9]).toBe(new Date(at('2026-11-11T00:00:00')).toISOString());
    // The old retry waits below the recent rows until a later run reaches it; the tabs hold it once more than
    // was served until then, and Refresh usage, which remembers the flush, counts it once.
    expect(everything(env)).toEqual(addSums(sumByKey(flushes), sumByKey([flushes[4]!])));
    env.call('refreshUsage');
    expect(env.ss.sheet('API_Keys').rows().slice(1).map((r) => r[7])).toEqual([1, 2].map((n) => sumByKey(flushes).get(idOf(keyOf(n)))!.requests));
    expect(env.ui.messages('alert')[0]).toBe('80 usage rows from before 2026-11-11 were rolled up into "Usage (daily)" (20 new rows) and removed from the usage tab.');
  });

  it('changes nothing when run again, and then compacts the next day, retries included, once', async () => {
    const env = await sheetAt();
    env.state.uiAvailable = false;
    const flushes = history();
    const usage = addUsageTab(env, flushes);
    env.call('compactUsage', TRIGGER);
    const daily = env.ss.sheet('Usage (daily)').rows();
    const raw = usage.rows();
    env.ss.writes.length = 0;
    env.call('compactUsage', TRIGGER);
    expect(env.ss.writes).toEqual([]);
    expect(env.ss.sheet('Usage (daily)').rows()).toEqual(daily);
    expect(usage.rows()).toEqual(raw);

    // The next day, one more day goes.
    env.clock!.advance(DAY_MS);
    env.call('compactUsage', TRIGGER);
    expect(dailyRows(env).at(-1)!.day).toBe('2026-11-11');
    expect(everything(env)).toEqual(sumByKey(flushes));

    // A retry of a flush compacted earlier arrives; once compaction reaches it, it is deleted without being added.
    usage.gatewayAppend([usageRow(flushes[2]!)]);
    env.clock!.advance(8 * DAY_MS);
    env.call('compactUsage', TRIGGER);
    expect(usage.getLastRow()).toBe(1);
    expect(dailyRows(env).at(-1)!.day).toBe('2026-11-17');
    expect(everything(env)).toEqual(sumByKey(flushes));
  });

  it('keeps the rows the gateway appends while it runs, and deletes only the rows it rolled up', async () => {
    const env = await sheetAt();
    const flushes = history();
    const usage = addUsageTab(env, flushes);
    const late: Flush[] = [
      { hour: at('2026-11-18T03:00:00'), key: keyOf(1), client: 'Acme', requests: 5, prompt: 1, completion: 1, flushId: 'during-1' },
      // A flush for an old hour, appended while compaction runs: it is kept now and rolled up by a later run.
      { hour: at('2026-11-02T03:00:00'), key: keyOf(2), client: 'Beta', requests: 9, prompt: 9, completion: 9, flushId: 'during-2' },
    ];
    env.ss.beforeWrite = (op, sheet) => {
      if (sheet !== 'Usage (daily)' || env.ss.beforeWrite === null) return;
      env.ss.beforeWrite = null;
      usage.gatewayAppend(late.map(usageRow));
    };
    env.state.uiAvailable = false;
    env.call('compactUsage', TRIGGER);
    expect(usage.rows().slice(-2)).toEqual(late.map(usageRow));
    expect(everything(env)).toEqual(sumByKey([...flushes, ...late]));

    // Refresh and the next compaction agree: the old-hour flush merges into its day's existing row.
    env.call('refreshUsage', TRIGGER);
    env.clock!.advance(DAY_MS);
    const before = dailyRows(env).length;
    usage.gatewayAppend([usageRow(late[1]!)]); // and its retry
    env.call('compactUsage', TRIGGER);
    env.call('refreshUsage', TRIGGER);
    const nov2 = dailyRows(env).filter((r) => r.day === '2026-11-02' && r.key_id === idOf(keyOf(2)));
    expect(nov2).toHaveLength(1);
    expect(dailyRows(env).length).toBe(before + 2); // only 2026-11-11's two rows are new
    expect(everything(env)).toEqual(sumByKey([...flushes, ...late]));
    const keys = env.ss.sheet('API_Keys').rows();
    expect(keys[2]![7]).toBe(sumByKey([...flushes, ...late]).get(idOf(keyOf(2)))!.requests);
  });

  it('can compact every row of the tab (Sheets keeps one empty row), honours USAGE_RETENTION_DAYS, and exits quietly on a busy lock', async () => {
    const env = await sheetAt({ retention: '1' });
    const flushes = history();
    const usage = addUsageTab(env, flushes);
    usage.maxRows = usage.getLastRow();
    env.lock.busy = true;
    env.state.uiAvailable = false;
    env.call('compactUsage', TRIGGER);
    expect(env.ss.getSheetByName('Usage (daily)')).toBeNull();
    env.lock.busy = false;
    env.clock!.advance(DAY_MS); // 2026-11-19: with one day kept, everything up to 2026-11-17 goes
    env.call('compactUsage', TRIGGER);
    expect(usage.getLastRow()).toBe(1);
    expect(usage.getMaxRows()).toBe(2);
    expect(dailyRows(env).at(-1)!.day).toBe('2026-11-17');
    expect(everything(env)).toEqual(sumByKey(flushes));
  });

  it('explains a bad USAGE_RETENTION_DAYS and changes nothing', async () => {
    const env = await sheetAt({ retention: '0.5' });
    addUsageTab(env, history());
    env.call('compactUsage');
    expect(env.ss.getSheetByName('Usage (daily)')).toBeNull();
    expect(() => { env.state.uiAvailable = false; env.call('compactUsage', TRIGGER); }).toThrow('USAGE_RETENTION_DAYS must be a whole number');
  });
});
