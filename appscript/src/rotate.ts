import { cell } from './columns.ts';
import { isActiveValue, isDate } from './cells.ts';
import { KEY_PREFIX, USAGE_TOTAL_HEADERS, settings } from './config.ts';
import { formatInZone } from './dates.ts';
import { hashedKeyNote, showKeyDialog } from './dialog.ts';
import { storeKeyHashes } from './hash-setting.ts';
import { keyCells } from './key-id.ts';
import { withDocumentLock } from './lock.ts';
import { appendKeyRow, ensureKeyColumns, rereadKeyRow, selectedKeyRow } from './sheets.ts';
import { UserError, confirm, runAction } from './ui.ts';

const TITLE = 'Rotate key';
const HOUR_MS = 3_600_000;

/**
 * Adds a new key for the same client (a copy of the row: same rate limit, same policy
 * columns, same expiry) and lets the old one expire after the grace period, so clients
 * can switch without downtime. The new key is stored hashed when "Store only key hashes"
 * is on or the old row is hashed: rotation never puts a key back in the sheet in clear.
 */
export function rotateSelectedKey(): void {
  runAction(() => {
    const ui = SpreadsheetApp.getUi();
    const ss = SpreadsheetApp.getActiveSpreadsheet();
    const { keysSheet, graceHours } = settings();
    const timeZone = ss.getSpreadsheetTimeZone();
    const selected = selectedKeyRow(ss, keysSheet, 'rotate');
    const hashSetting = storeKeyHashes();
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
    const { newRow, hashed } = withDocumentLock(() => {
      const old = rereadKeyRow(selected);
      // Decided on the fresh row: it may have been hashed (npm run keys -- hash-existing) meanwhile.
      const hashed = hashSetting || old.hashed;
      const columns = hashed ? ensureKeyColumns(old.sheet, true) : old.columns;
      old.sheet.getRange(old.row, columns.get('expires_at') as number).setValue(oldEnds);
      const blanks: Record<string, unknown> = {};
      for (const name of USAGE_TOTAL_HEADERS) blanks[name] = '';
      const newRow = appendKeyRow(old.sheet, columns, old.values, {
        ...blanks,
        ...keyCells(key, hashed),
        created_at: new Date(now),
        is_active: true,
      });
      return { newRow, hashed };
    });

    showKeyDialog(ui, `New API key for ${selected.client}`, key, [
      `Client: ${selected.client} (new row ${newRow}; same rate limit and settings as row ${selected.row})`,
      `The old key ${selected.label} keeps working until ${until}.`,
      ...(hashed ? [hashedKeyNote(key)] : []),
    ]);
  });
}
