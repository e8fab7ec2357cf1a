// The Dashboard tab: rebuilt by every Refresh usage, with exactly one line chart (tokens per
// day per client, 30 days) and one bar chart (this period's top clients), reading the blocks
// the refresh wrote.

import { beforeAll, describe, expect, it } from 'vitest';
import { instantOfWall, isDate } from './fakes/values.ts';
import { HOUR_MS, buildOnce, loadBuilt, rowObject, seedKeys, type Env } from './harness.ts';
import { DAY_MS, addUsageTab, dayIn, keyOf, type Flush } from './usage-fixtures.ts';

beforeAll(() => buildOnce());

const TZ = 'America/New_York';
const NOW = instantOfWall('2026-11-18T12:00:00', TZ);
const HEADER = ['api_key', 'client_name', 'created_at', 'expires_at', 'is_active', 'rate_limit', 'token_quota', 'request_quota', 'quota_period'];

function seed(env: Env): Flush[] {
  seedKeys(env, [
    [keyOf(1), 'Acme', '', '2026-11-28', true, 60, 1000, '', 'month'], // expires at the end of 28 Nov
    [keyOf(2), 'Acme', '', new Date(NOW + 3 * DAY_MS + HOUR_MS), true, 60, '', '', ''],
    [keyOf(3), 'Beta', '', '', true, 60, '', 50, 'week'],
    [keyOf(4), 'Gamma', '', '2020-01-01', true, 60, '', '', ''], // expired: not counted as live
  ], HEADER);
  const flushes: Flush[] = [];
  for (let d = 0; d < 40; d++) {
    const hour = NOW - d * DAY_MS - 2 * HOUR_MS;
    flushes.push({ hour, key: keyOf(1 + (d % 2)), client: 'Acme', requests: 1, prompt: 10 * d, completion: 1, flushId: `a${d}` });
    if (d % 3 === 0) flushes.push({ hour, key: keyOf(3), client: 'Beta', requests: 2, prompt: 100, completion: 100, flushId: `b${d}` });
  }
  addUsageTab(env, flushes);
  return flushes;
}

function table(env: Env): Record<string, unknown>[] {
  const [header = [], ...rows] = env.ss.sheet('Dashboard').rows();
  return rows.filter((r) => r[0] !== '' && r[1] !== '').map((row) => rowObject(header.slice(0, 12), row.slice(0, 12)));
}

describe('Dashboard', () => {
  it('is rebuilt by each refresh with one line and one bar chart over the blocks it wrote, never copies', async () => {
    const env = await loadBuilt({ timeZone: TZ, now: NOW });
    const flushes = seed(env);
    env.ss.select('API_Keys', 2);
    env.call('refreshUsage');
    const dashboard = env.ss.sheet('Dashboard');
    expect(env.ss.getActiveSheet().getName()).toBe('API_Keys'); // the admin stays where they were

    const tokensIn = (client: string, from: string) => flushes
      .filter((f) => f.client === client && dayIn(f.hour, TZ) >= from && dayIn(f.hour, TZ) <= '2026-11-18')
      .reduce((sum, f) => sum + f.prompt + f.completion, 0);
    const rows = table(env);
    expect(rows.map((r) => r.client)).toEqual(['Acme', 'Beta', 'Gamma']);
    expect(rows[0]).toMatchObject({ quota_period: 'month', tokens: tokensIn('Acme', '2026-11-01'), token_quota: 1000, keys: 2, days_to_expiry: 4 });
    expect(rows[0]!.token_quota_used_pct).toBe(Math.round(tokensIn('Acme', '2026-11-01') / 1000 * 1000) / 10);
    expect(rows[1]).toMatchObject({ quota_period: 'week', tokens: tokensIn('Beta', '2026-11-16'), request_quota: 50, keys: 1, earliest_expiry: '', days_to_expiry: '' });
    expect(rows[2]).toMatchObject({ tokens: 0, keys: 0 });

    const check = () => {
      const charts = dashboard.getCharts();
      expect(charts.map((c) => [c.title(), c.type, c.rangeNotations(), c.numHeaders])).toEqual([
        ['Tokens per day, last 30 days', 'LINE', ['Dashboard!Q1:S31'], 1],
        ['Top clients this period (tokens)', 'BAR', ['Dashboard!N1:O3'], 1],
      ]);
      // The line chart's block: day, then Acme and Beta (by 30-day tokens); the bar chart's: the period's top clients.
      const series = dashboard.getRange(1, 17, 31, 3).getValues();
      expect(series[0]).toEqual(['day', 'Acme', 'Beta']);
      expect(series.slice(1).map((r) => isDate(r[0]) && dayIn((r[0] as Date).getTime() + HOUR_MS, TZ))).toEqual(
        Array.from({ length: 30 }, (_, i) => dayIn(NOW - (29 - i) * DAY_MS, TZ)),
      );
      expect(series.at(-1)).toEqual([expect.anything(), tokensIn('Acme', '2026-11-18'), tokensIn('Beta', '2026-11-18')]);
      expect(dashboard.getRange(1, 14, 3, 2).getValues()).toEqual([['top_client', 'tokens'], ['Acme', rows[0]!.tokens], ['Beta', rows[1]!.tokens]]);
    };
    check();
    const ids = dashboard.getCharts().map((c) => c.getChartId());

    env.ss.writes.length = 0;
    env.clock!.advance(HOUR_MS);
    env.call('refreshUsage');
    check();
    expect(dashboard.getCharts().map((c) => c.getChartId())).toEqual(ids);
    expect(env.ss.writes.filter((w) => w.op.endsWith('Chart')).map((w) => w.op)).toEqual(['updateChart', 'updateChart']);

    // An admin copies a chart; the next refresh keeps one of each.
    dashboard.charts.push(dashboard.newChart().setChartType('BAR').addRange(dashboard.getRange(1, 1)).setOption('title', 'Top clients this period (tokens)').build());
    env.call('refreshUsage');
    check();
  });

  it('shows the top eight clients per day and the rest as "(others)", within the tab\'s 26 columns', async () => {
    const env = await loadBuilt({ timeZone: TZ, now: NOW });
    const names = Array.from({ length: 11 }, (_, i) => `Client ${String(i).padStart(2, '0')}`);
    seedKeys(env, names.map((name, i) => [keyOf(i + 1), name, '', '', true, 60]));
    addUsageTab(env, names.map((client, i) => ({ hour: NOW - HOUR_MS, key: keyOf(i + 1), client, requests: 1, prompt: 100 * (i + 1), completion: 0, flushId: 'x' })));
    env.state.uiAvailable = false;
    env.call('refreshUsage', { triggerUid: '1' });
    const series = env.ss.sheet('Dashboard').getRange(1, 17, 31, 10).getValues();
    expect(series[0]).toEqual(['day', ...names.slice(3).reverse(), '(others)']);
    expect(series.at(-1)!.slice(1)).toEqual([1100, 1000, 900, 800, 700, 600, 500, 400, 300 + 200 + 100]);
    expect(env.ss.sheet('Dashboard').getCharts()[0]!.rangeNotations()).toEqual(['Dashboard!Q1:Z31']);
    expect(env.ss.sheet('Dashboard').getCharts()[1]!.rangeNotations()).toEqual(['Dashboard!N1:O11']);
  });
});
