// The Dashboard tab, rebuilt by every Refresh usage: a per-client table for the current quota
// period, the period's top clients and tokens per day per client over 30 days, with a bar
// and a line chart over those blocks. Charts are found again by their title and modified,
// so re-running never adds copies (and keeps what an admin changed in their look).

import { getOrInsertSheet } from './sheets.ts';
import { clientsByKey, keyViews, percentOf, periodUse, type KeyView } from './key-view.ts';
import { readColumns } from './columns.ts';
import { DAY_MS, addDays, dayStart, formatInZone } from './periods.ts';
import type { UsageContext } from './usage-ingest.ts';
import type { UsageState } from './usage-state.ts';

type Sheet = GoogleAppsScript.Spreadsheet.Sheet;

export const DASHBOARD_SHEET = 'Dashboard';
export const LINE_TITLE = 'Tokens per day, last 30 days';
export const BAR_TITLE = 'Top clients this period (tokens)';
const TABLE_HEADER = [
  'client', 'quota_period', 'period_from', 'requests', 'tokens', 'token_quota', 'token_quota_used_pct',
  'request_quota', 'request_quota_used_pct', 'keys', 'earliest_expiry', 'days_to_expiry',
];
const TOP_COLUMN = 14; // N: top clients (client, tokens)
const SERIES_COLUMN = 17; // Q: day, then one column per client
const TOP_CLIENTS = 10;
const SERIES_CLIENTS = 8; // plus "(others)": Q..Z
const SERIES_DAYS = 30;
const OTHERS = '(others)';

interface ClientRow {
  client: string;
  keys: KeyView[];
  values: unknown[];
  tokens: number;
}

function clientTable(ctx: UsageContext, state: UsageState, views: KeyView[]): ClientRow[] {
  const use = periodUse(state, clientsByKey(state, views), ctx.today);
  const byClient = new Map<string, KeyView[]>();
  for (const view of views) byClient.set(view.client, [...(byClient.get(view.client) ?? []), view]);
  const rows: ClientRow[] = [];
  for (const [client, keys] of byClient) {
    // The first row with a quota names the period and quotas the table shows.
    const policy = keys.find((k) => k.tokenQuota !== null || k.requestQuota !== null) ?? keys[0]!;
    const p = use(client, policy.period ?? 'month');
    const live = keys.filter((k) => k.active && k.expiresAt !== undefined && (k.expiresAt === null || k.expiresAt > ctx.now));
    const expiries = live.map((k) => k.expiresAt).filter((e): e is number => typeof e === 'number');
    const earliest = expiries.length > 0 ? Math.min(...expiries) : null;
    rows.push({
      client, keys, tokens: p.tokens,
      values: [
        client === '' ? '(no client_name)' : client, p.period, dayStart(p.start, ctx.timeZone), p.requests, p.tokens,
        policy.tokenQuota ?? '', percentOf(p.tokens, policy.tokenQuota) ?? '',
        policy.requestQuota ?? '', percentOf(p.requests, policy.requestQuota) ?? '',
        live.length, earliest === null ? '' : new Date(earliest), earliest === null ? '' : Math.ceil((earliest - ctx.now) / DAY_MS),
      ],
    });
  }
  return rows.sort((a, b) => b.tokens - a.tokens || a.client.localeCompare(b.client));
}

/** day, then tokens per client (top SERIES_CLIENTS over the 30 days, the rest as "(others)"). */
function dailySeries(ctx: UsageContext, state: UsageState, clients: Map<string, string>): unknown[][] {
  const days = Array.from({ length: SERIES_DAYS }, (_, i) => addDays(ctx.today, i - SERIES_DAYS + 1));
  const perClient = new Map<string, Map<string, number>>();
  for (const day of days) {
    for (const [keyId, counts] of Object.entries(state.days[day] ?? {})) {
      const client = clients.get(keyId) || '(no client_name)';
      const series = perClient.get(client) ?? new Map<string, number>();
      series.set(day, (series.get(day) ?? 0) + counts[2] + counts[3]);
      perClient.set(client, series);
    }
  }
  const total = (client: string) => [...(perClient.get(client)?.values() ?? [])].reduce((a, b) => a + b, 0);
  const ranked = [...perClient.keys()].sort((a, b) => total(b) - total(a) || a.localeCompare(b));
  const shown = ranked.slice(0, SERIES_CLIENTS);
  const others = ranked.slice(SERIES_CLIENTS);
  const header = ['day', ...(shown.length > 0 ? shown : ['tokens']), ...(others.length > 0 ? [OTHERS] : [])];
  const rows = days.map((day) => {
    const values: unknown[] = [dayStart(day, ctx.timeZone), ...shown.map((c) => perClient.get(c)?.get(day) ?? 0)];
    if (shown.length === 0) values.push(0);
    if (others.length > 0) values.push(others.reduce((sum, c) => sum + (perClient.get(c)?.get(day) ?? 0), 0));
    return values;
  });
  return [header, ...rows];
}

function write(sheet: Sheet, row: number, column: number, values: unknown[][]): GoogleAppsScript.Spreadsheet.Range {
  const range = sheet.getRange(row, column, values.length, values[0]!.length);
  range.setValues(values);
  return range;
}

/** Inserts the chart, or modifies the one with this title; removes any copies. */
function upsertChart(sheet: Sheet, title: string, type: GoogleAppsScript.Charts.ChartType, ranges: GoogleAppsScript.Spreadsheet.Range[], row: number, column: number): void {
  const same = sheet.getCharts().filter((chart) => chart.getOptions().get('title') === title);
  const [kept, ...copies] = same;
  copies.forEach((chart) => sheet.removeChart(chart));
  const builder = kept ? kept.modify().clearRanges() : sheet.newChart().setPosition(row, column, 0, 0);
  // The first row of each block names the series; saying so keeps Sheets from guessing.
  builder.setChartType(type).setNumHeaders(1).setOption('title', title);
  ranges.forEach((range) => builder.addRange(range));
  if (kept) sheet.updateChart(builder.build());
  else sheet.insertChart(builder.build());
}

/** Rebuilds the Dashboard tab. Call under the document lock, with the state caught up. */
export function rebuildDashboard(ctx: UsageContext, state: UsageState, keysSheet: Sheet): void {
  const lastRow = keysSheet.getLastRow();
  const columns = readColumns(keysSheet);
  const rows = lastRow < 2 ? [] : keysSheet.getRange(2, 1, lastRow - 1, keysSheet.getLastColumn()).getValues();
  const views = keyViews(rows, columns, ctx.timeZone);

  const active = ctx.ss.getActiveSheet();
  const { sheet, created } = getOrInsertSheet(ctx.ss, DASHBOARD_SHEET);
  if (created) ctx.ss.setActiveSheet(active);
  sheet.clearContents();

  const table = clientTable(ctx, state, views);
  write(sheet, 1, 1, [TABLE_HEADER, ...table.map((r) => r.values)]);
  const noteRow = table.length + 3;
  write(sheet, noteRow, 1, [[`Updated ${formatInZone(new Date(ctx.now), ctx.timeZone)} (${ctx.timeZone}) by Refresh usage. This tab is rewritten on every refresh.`]]);

  const top = table.filter((r) => r.tokens > 0).slice(0, TOP_CLIENTS).map((r) => [r.values[0], r.tokens]);
  const topRange = write(sheet, 1, TOP_COLUMN, [['top_client', 'tokens'], ...(top.length > 0 ? top : [['(no use yet)', 0]])]);
  const seriesRange = write(sheet, 1, SERIES_COLUMN, dailySeries(ctx, state, clientsByKey(state, views)));

  const chartRow = noteRow + 2;
  upsertChart(sheet, LINE_TITLE, Charts.ChartType.LINE, [seriesRange], chartRow, 1);
  upsertChart(sheet, BAR_TITLE, Charts.ChartType.BAR, [topRange], chartRow, 8);
}
