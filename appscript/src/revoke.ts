import { cell } from './columns.ts';
import { isActiveValue } from './cells.ts';
import { settings } from './config.ts';
import { withDocumentLock } from './lock.ts';
import { rereadKeyRow, selectedKeyRow } from './sheets.ts';
import { confirm, runAction, tell } from './ui.ts';

const TITLE = 'Revoke key';

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
    withDocumentLock(() => {
      const row = rereadKeyRow(selected);
      row.sheet.getRange(row.row, row.columns.get('is_active') as number).setValue(false);
    });
    tell(ui, TITLE, `Revoked the key ${what}.`);
  });
}
