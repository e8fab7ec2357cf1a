import { ensureColumns } from './columns.ts';
import { HASHED_KEYS_HEADERS, KEYS_HEADERS, USAGE_HEADERS, settings } from './config.ts';
import { hashSettingCaption, storeKeyHashes } from './hash-setting.ts';
import { withDocumentLock } from './lock.ts';
import { applyGreyRule, applyKeyValidation } from './rules.ts';
import { getOrInsertSheet } from './sheets.ts';
import { hasHourlyUsageTrigger, installHourlyUsageTrigger } from './triggers.ts';
import { confirm, runAction, tell } from './ui.ts';

const TITLE = 'Set up sheet';

type Spreadsheet = GoogleAppsScript.Spreadsheet.Spreadsheet;

/** Creates a tab if missing, adds missing headers, freezes the header row; describes what it did. */
function prepareTab(ss: Spreadsheet, name: string, headers: readonly string[]) {
  const { sheet, created } = getOrInsertSheet(ss, name);
  const { columns, added } = ensureColumns(sheet, headers);
  sheet.setFrozenRows(1);
  const change = created ? 'created' : added.length > 0 ? `added columns ${added.join(', ')}` : 'headers complete';
  return { sheet, columns, summary: `${name}: ${change}.` };
}

export function setupSheet(): void {
  runAction(() => {
    const ui = SpreadsheetApp.getUi();
    const ss = SpreadsheetApp.getActiveSpreadsheet();
    const config = settings();
    const hashed = storeKeyHashes();
    const summary = withDocumentLock(() => {
      const keys = prepareTab(ss, config.keysSheet, hashed ? HASHED_KEYS_HEADERS : KEYS_HEADERS);
      applyKeyValidation(keys.sheet, keys.columns);
      applyGreyRule(keys.sheet, keys.columns);
      const usage = prepareTab(ss, config.usageSheet, USAGE_HEADERS);
      return [keys.summary, usage.summary, 'Validation, grey-out of inactive and expired keys, frozen headers: set.'];
    });
    if (!hasHourlyUsageTrigger()) {
      const question = 'Refresh usage totals every hour? This installs a time-driven trigger that runs as you.';
      if (confirm(ui, TITLE, question)) installHourlyUsageTrigger();
    }
    summary.push(`Hourly usage refresh: ${hasHourlyUsageTrigger() ? 'on' : 'off'}.`);
    summary.push(`${hashSettingCaption(hashed)}.`);
    tell(ui, TITLE, summary.join('\n'));
  });
}
