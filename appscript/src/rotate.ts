import { cell } from './columns.ts';
import { isActiveValue, isDate } from './cells.ts';
import { HASH_HEADER, HINT_HEADER, KEY_PREFIX, USAGE_TOTAL_HEADERS, settings } from './config.ts';
import { formatInZone } from './dates.ts';
import { showKeyDialog } from './dialog.ts';
import { withDocumentLock } from './lock.ts';
import { appendKeyRow, rereadKeyRow, selectedKeyRow } from './sheets.ts';
import { UserError, confirm, runAction } from './ui.ts';

const TITLE = 'Rotate key';
const HOUR_MS = 3_600_000;

/**
 * Adds a new key for the same client (a copy of the row: same rate limit, same policy
 * columns, same expiry) and lets the old one expire after the grace period, so clients
 * can switch without downtime.
 */
export function rotateSelectedKey(): void {
  runAction(() => {
    const ui = SpreadsheetApp.getUi();
    const ss = SpreadsheetApp.getActiveSpreadsheet();
    const { keysSheet, graceHours } = settings();
    const timeZone = ss.getSpreadsheetTimeZone();
    const selected = selectedKeyRow(ss, keysSheet, 'rotate');
    const what = `${selected.label} of "${selected.client}" (row ${selected.row})`;
    if (!isActiveValue(cell(selected.values, selected.columns, 'is_active'))) {
      throw new UserError(`The key ${what} is inactive; use Generate key to give the client a new one.`);
    }
    const now = Date.now();
    const expiry = cell(selected.values, selected.columns, 'expires_at');
    if (isDate(expiry) && expiry.getTime() <= now) {
      throw new UserError(`The key ${what} has expired; use Generate key to give the client a new one.`);
    }
    const graceEnd = new Date(now + graceHours * HOUR_MS);
    // Rotation never lengthens the old key's life.
    const oldEnds = isDate(expiry) && expiry.getTime() < graceEnd.getTime() ? expiry : graceEnd;
    const until = `${formatInZone(oldEnds, timeZone)} (${timeZone})`;
    if (!confirm(ui, TITLE, `Replace the key ${what} with a new one? The old key keeps working until ${until}.`)) return;

    const key = KEY_PREFIX + Utilities.getUuid();
    const newRow = withDocumentLock(() => {
      const old = rereadKeyRow(selected);
      old.sheet.getRange(old.row, old.columns.get('expires_at') as number).setValue(oldEnds);
      const blanks: Record<string, unknown> = { [HASH_HEADER]: '', [HINT_HEADER]: '' };
      for (const name of USAGE_TOTAL_HEADERS) blanks[name] = '';
      return appendKeyRow(old.sheet, old.columns, old.values, {
        ...blanks,
        api_key: key,
        created_at: new Date(now),
        is_active: true,
      });
    });

    showKeyDialog(ui, `New API key for ${selected.client}`, key, [
      `Client: ${selected.client} (new row ${newRow}; same rate limit and settings as row ${selected.row})`,
      `The old key ${selected.label} keeps working until ${until}.`,
    ]);
  });
}
