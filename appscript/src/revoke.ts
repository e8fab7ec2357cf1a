import { cell, ensureColumns } from './columns.ts';
import { isActiveValue } from './cells.ts';
import { settings } from './config.ts';
import { instantCell } from './dates.ts';
import { withDocumentLock } from './lock.ts';
import { rereadKeyRow, selectedKeyRow } from './sheets.ts';
import { confirm, runAction, tell } from './ui.ts';

const TITLE = 'Revoke key';
/** When the key was revoked, for the audit trail; the gateway ignores the column. */
export const REVOKED_AT_HEADER = 'revoked_at';

export function revokeSelectedKey(): void {
  runAction(() => {
    const ui = SpreadsheetApp.getUi();
    const ss = SpreadsheetApp.getActiveSpreadsheet();
    const selected = selectedKeyRow(ss, settings().keysSheet, 'revoke');
    const what = `${selected.label} of "${selected.client}" (row ${selected.row})`;
    if (!isActiveValue(cell(selected.values, selected.columns, 'is_active'))) {
      tell(ui, TITLE, `The key ${what} is already inactive.`);
      return;
    }
    const question =
      `Revoke the key ${what}? The gateway refuses it from its next key reload ` +
      '(API_KEY_CACHE_DURATION, 5 minutes by default).';
    if (!confirm(ui, TITLE, question)) return;
    const timeZone = ss.getSpreadsheetTimeZone();
    withDocumentLock(() => {
      const row = rereadKeyRow(selected);
      const { columns } = ensureColumns(row.sheet, [REVOKED_AT_HEADER]);
      row.sheet.getRange(row.row, columns.get('is_active') as number).setValue(false);
      row.sheet.getRange(row.row, columns.get(REVOKED_AT_HEADER) as number).setValue(instantCell(Date.now(), timeZone));
    });
    tell(ui, TITLE, `Revoked the key ${what}.`);
  });
}
