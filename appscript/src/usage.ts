// Refresh usage: per key, all-time totals (last_used_at, requests, prompt_tokens,
// completion_tokens) from Usage and Usage (daily), each (flush_id, key_id) counted once; per
// client, the current quota period's figures and the share of each quota used; then the
// Dashboard tab. Totals are kept between runs (usage-ingest.ts), so a run reads only the
// raw rows appended since the last one, and reads them before taking the document lock.

import { adjacentRuns, ensureColumns, type Columns } from './columns.ts';
import { USAGE_TOTAL_HEADERS } from './config.ts';
import { dayStart } from './periods.ts';
import { rebuildDashboard } from './dashboard.ts';
import { clientsByKey, keyViews, percentOf, periodUse } from './key-view.ts';
import { isTriggerEvent } from './trigger-run.ts';
import { COMPACT_HANDLER, REFRESH_HANDLER, hasTrigger, installTrigger, noteTriggerRun } from './triggers.ts';
import { usageContext, withFreshUsage, type UsageContext } from './usage-ingest.ts';
import type { UsageState } from './usage-state.ts';
import { UserError, runAction, tell, tryGetUi } from './ui.ts';

type Sheet = GoogleAppsScript.Spreadsheet.Sheet;

/** Per client for the key's quota_period: requests and tokens so far, and % of the row's quotas. */
export const PERIOD_HEADERS = ['period_requests', 'period_tokens', 'token_quota_used_pct', 'request_quota_used_pct'] as const;
const KEY_USAGE_HEADERS = [...USAGE_TOTAL_HEADERS, ...PERIOD_HEADERS];

function keyCells(state: UsageState, ctx: UsageContext, rows: unknown[][], columns: Columns): unknown[][] {
  const views = keyViews(rows, columns, ctx.timeZone);
  const use = periodUse(state, clientsByKey(state, views), ctx.today);
  const cells: unknown[][] = rows.map(() => KEY_USAGE_HEADERS.map(() => ''));
  for (const view of views) {
    const t = state.keys[view.keyId];
    const last = t && t.last > 0 ? new Date(t.last) : t && t.lastDay !== '' ? dayStart(t.lastDay, ctx.timeZone) : '';
    const period = view.period ? use(view.client, view.period) : null;
    cells[view.index] = [
      last, t ? t.counts[0] : 0, t ? t.counts[2] : 0, t ? t.counts[3] : 0,
      period ? period.requests : '', period ? period.tokens : '',
      period ? percentOf(period.tokens, view.tokenQuota) ?? '' : '',
      period ? percentOf(period.requests, view.requestQuota) ?? '' : '',
    ];
  }
  return cells;
}

/** Writes every key row's figures with one setValues per run of adjacent columns; returns how many keys. */
function writeKeyFigures(sheet: Sheet, state: UsageState, ctx: UsageContext): number {
  const { columns } = ensureColumns(sheet, KEY_USAGE_HEADERS);
  const lastRow = sheet.getLastRow();
  if (lastRow < 2) return 0;
  const rows = sheet.getRange(2, 1, lastRow - 1, sheet.getLastColumn()).getValues();
  const cells = keyCells(state, ctx, rows, columns);
  const indexByColumn = new Map(KEY_USAGE_HEADERS.map((name, index) => [columns.get(name) as number, index]));
  for (const run of adjacentRuns([...indexByColumn.keys()])) {
    const block = cells.map((line) => run.map((column) => line[indexByColumn.get(column) as number]));
    sheet.getRange(2, run[0] as number, block.length, run.length).setValues(block);
  }
  return keyViews(rows, columns, ctx.timeZone).length;
}

export interface RefreshResult {
  keys: number;
  behind: number;
  read: number;
}

/** Refresh under the lock; null when a trigger found the lock busy. */
export function refreshUsageNow(quietIfBusy: boolean): RefreshResult | null {
  const ctx = usageContext();
  const keys = ctx.ss.getSheetByName(ctx.config.keysSheet);
  if (!keys) throw new UserError(`There is no "${ctx.config.keysSheet}" tab yet. Run API Keys > Set up sheet first.`);
  return withFreshUsage(ctx, quietIfBusy, ({ state, behind, read }) => {
    const count = writeKeyFigures(keys, state, ctx);
    rebuildDashboard(ctx, state, keys);
    return { keys: count, behind, read };
  });
}

/** Menu item and hourly trigger. Under a trigger there is no UI: errors are thrown and logged, a busy lock skips the run. */
export function refreshUsage(event?: unknown): void {
  runAction(() => {
    if (isTriggerEvent(event)) {
      noteTriggerRun(REFRESH_HANDLER, event);
      // The daily compaction goes with the hourly refresh; if its admin's trigger is gone, this one takes over.
      if (!hasTrigger(COMPACT_HANDLER)) installTrigger(COMPACT_HANDLER);
    }
    const result = refreshUsageNow(isTriggerEvent(event));
    const ui = isTriggerEvent(event) ? null : tryGetUi();
    if (!result || !ui) return;
    const more = result.behind > 0 ? ` ${result.behind} usage rows are still to be read: run Refresh usage again.` : '';
    tell(ui, 'Refresh usage', `Usage totals updated for ${result.keys} keys (${result.read} new usage rows read); the Dashboard is rebuilt.${more}`);
  });
}
