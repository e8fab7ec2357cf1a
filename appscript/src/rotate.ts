import { cell, type Columns } from './columns.ts';
import { isActiveValue, sameValue } from './cells.ts';
import { KEY_PREFIX, USAGE_TOTAL_HEADERS, settings } from './config.ts';
import { formatInZone, instantCell } from './dates.ts';
import { hashedKeyNote, showKeyDialog } from './dialog.ts';
import { parseExpiry } from './expiry.ts';
import { storeKeyHashes } from './hash-setting.ts';
import { keyCells } from './key-id.ts';
import { withDocumentLock } from './lock.ts';
import { appendKeyRow, ensureKeyColumns, rereadKeyRow, selectedKeyRow } from './sheets.ts';
import { UserError, confirm, runAction } from './ui.ts';

const TITLE = 'Rotate key';
const HOUR_MS = 3_600_000;
/** Columns about the old key, not the client: the new row starts them blank. */
const NOT_COPIED = [...USAGE_TOTAL_HEADERS, 'revoked_at'];

interface OldKeyEnd {
  /** The instant the old key stops working, as the gateway will read the row afterwards. */
  endsAt: number;
  /** The Date to write into the old row's expires_at; null when its own expiry comes first. */
  write: Date | null;
}

/**
 * When the old key stops: after the grace period, or at its own expiry if that comes first
 * (rotation never lengthens a key's life). The expiry is read by the gateway's rules: text,
 * serial numbers, and a date alone lasting through its day.
 */
function oldKeyEnd(values: readonly unknown[], columns: Columns, what: string, now: number, graceHours: number, timeZone: string): OldKeyEnd {
  const expiry = parseExpiry(cell(values, columns, 'expires_at'), timeZone);
  if (!expiry.ok) {
    throw new UserError(`The key ${what} has an expires_at the gateway cannot read (${expiry.reason}). Fix that cell, then rotate again.`);
  }
  if (expiry.expiresAt !== null && expiry.expiresAt <= now) {
    throw new UserError(`The key ${what} has expired; use Generate key to give the client a new one.`);
  }
  const graceEnd = instantCell(now + graceHours * HOUR_MS, timeZone);
  if (expiry.expiresAt !== null && expiry.expiresAt <= graceEnd.getTime()) return { endsAt: expiry.expiresAt, write: null };
  return { endsAt: graceEnd.getTime(), write: graceEnd };
}

/**
 * Adds a new key for the same client (a copy of the row's values: same rate limit, same policy
 * columns, same expiry) and lets the old one expire after the grace period, so clients can
 * switch without downtime. The new key is stored hashed when "Store only key hashes" is on or
 * the old row is hashed: rotation never puts a key back in the sheet in clear.
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
    const asked = oldKeyEnd(selected.values, selected.columns, what, Date.now(), graceHours, timeZone);
    const until = `${formatInZone(new Date(asked.endsAt), timeZone)} (${timeZone})`;
    if (!confirm(ui, TITLE, `Replace the key ${what} with a new one? The old key keeps working until ${until}.`)) return;

    const key = KEY_PREFIX + Utilities.getUuid();
    const { newRow, hashed, endsAt } = withDocumentLock(() => {
      const old = rereadKeyRow(selected);
      // Decided on the fresh row and clock: the row may have changed while the admin read the question.
      const now = Date.now();
      const end = oldKeyEnd(old.values, old.columns, what, now, graceHours, timeZone);
      // It may have been hashed (npm run keys -- hash-existing) meanwhile.
      const hashed = hashSetting || old.hashed;
      const columns = hashed ? ensureKeyColumns(old.sheet, true) : old.columns;
      const blanks: Record<string, unknown> = {};
      for (const name of NOT_COPIED) blanks[name] = '';
      // Values as values: text that looks like a formula, a number or a date stays text.
      const newRow = appendKeyRow(old.sheet, columns, old.values.map(sameValue), {
        ...blanks,
        ...keyCells(key, hashed),
        created_at: instantCell(now, timeZone),
        is_active: true,
      });
      // Only once the successor is in: if the append fails, the old key keeps its full life.
      if (end.write) old.sheet.getRange(old.row, columns.get('expires_at') as number).setValue(end.write);
      return { newRow, hashed, endsAt: end.endsAt };
    });

    showKeyDialog(ui, `New API key for ${selected.client}`, key, [
      `Client: ${selected.client} (new row ${newRow}; same rate limit and settings as row ${selected.row})`,
      `The old key ${selected.label} keeps working until ${formatInZone(new Date(endsAt), timeZone)} (${timeZone}).`,
      ...(hashed ? [hashedKeyNote(key)] : []),
    ]);
  });
}
