// Refresh usage: totals of the Usage tab per key, written beside each key. It recomputes
// from every Usage row each time, so running it twice never counts anything twice.

import { adjacentRuns, cell, columnsOf, ensureColumns, type Columns } from './columns.ts';
import { countValue, timestampValue } from './cells.ts';
import { USAGE_TOTAL_HEADERS, settings } from './config.ts';
import { rowKeyId } from './key-id.ts';
import { withDocumentLock } from './lock.ts';
import { UserError, runAction, tell, tryGetUi } from './ui.ts';

type Sheet = GoogleAppsScript.Spreadsheet.Sheet;

interface Totals {
  lastUsedAt: number | null;
  requests: number;
  promptTokens: number;
  completionTokens: number;
}

function sumUsage(values: readonly unknown[][]): Map<string, Totals> {
  const totals = new Map<string, Totals>();
  const [header = [], ...rows] = values;
  const columns = columnsOf(header);
  const at = (row: readonly unknown[], name: string) => cell(row, columns, name);
  if (rows.length > 0 && !columns.has('key_id')) throw new UserError('The usage tab has no key_id column.');
  for (const row of rows) {
    const keyId = String(at(row, 'key_id')).trim().toLowerCase();
    if (keyId === '') continue;
    const sum = totals.get(keyId) ?? { lastUsedAt: null, requests: 0, promptTokens: 0, completionTokens: 0 };
    const requests = countValue(at(row, 'requests'));
    sum.requests += requests;
    sum.promptTokens += countValue(at(row, 'prompt_tokens'));
    sum.completionTokens += countValue(at(row, 'completion_tokens'));
    const time = timestampValue(at(row, 'timestamp'));
    // A flush that only counted refused requests is not a use of the key.
    if (time !== null && requests > 0 && (sum.lastUsedAt === null || time > sum.lastUsedAt)) sum.lastUsedAt = time;
    totals.set(keyId, sum);
  }
  return totals;
}

/** The four usage cells of one key row, in USAGE_TOTAL_HEADERS order; blanks for a row without a key. */
function usageCells(row: readonly unknown[], columns: Columns, totals: Map<string, Totals>): unknown[] {
  const keyId = rowKeyId(row, columns);
  if (keyId === null) return ['', '', '', ''];
  const t = totals.get(keyId);
  if (!t) return ['', 0, 0, 0];
  return [t.lastUsedAt === null ? '' : new Date(t.lastUsedAt), t.requests, t.promptTokens, t.completionTokens];
}

/** Writes every key row's totals with one setValues per run of adjacent usage columns. */
function writeTotals(sheet: Sheet, columns: Columns, totals: Map<string, Totals>): number {
  const lastRow = sheet.getLastRow();
  if (lastRow < 2) return 0;
  const rows = sheet.getRange(2, 1, lastRow - 1, sheet.getLastColumn()).getValues();
  const cellsByRow = rows.map((row) => usageCells(row, columns, totals));
  const indexByColumn = new Map(USAGE_TOTAL_HEADERS.map((name, index) => [columns.get(name) as number, index]));
  for (const run of adjacentRuns([...indexByColumn.keys()])) {
    const block = cellsByRow.map((cells) => run.map((column) => cells[indexByColumn.get(column) as number]));
    sheet.getRange(2, run[0] as number, block.length, run.length).setValues(block);
  }
  return cellsByRow.filter((cells) => cells[1] !== '').length;
}

interface RefreshResult {
  keys: number;
  usageRows: number;
}

function refreshUsageNow(): RefreshResult {
  const ss = SpreadsheetApp.getActiveSpreadsheet();
  const config = settings();
  return withDocumentLock(() => {
    const keys = ss.getSheetByName(config.keysSheet);
    if (!keys) throw new UserError(`There is no "${config.keysSheet}" tab yet. Run API Keys > Set up sheet first.`);
    const usage = ss.getSheetByName(config.usageSheet);
    const usageValues = usage && usage.getLastRow() > 0 ? usage.getDataRange().getValues() : [];
    const totals = sumUsage(usageValues);
    const { columns } = ensureColumns(keys, USAGE_TOTAL_HEADERS);
    return { keys: writeTotals(keys, columns, totals), usageRows: Math.max(usageValues.length - 1, 0) };
  });
}

/** Menu item and hourly trigger. Under a trigger there is no UI: errors are thrown and logged. */
export function refreshUsage(): void {
  runAction(() => {
    const result = refreshUsageNow();
    const ui = tryGetUi();
    if (ui) tell(ui, 'Refresh usage', `Usage totals updated for ${result.keys} keys from ${result.usageRows} usage rows.`);
  });
}
