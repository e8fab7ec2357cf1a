import { DEFAULT_RATE_LIMIT, KEY_PREFIX, settings } from './config.ts';
import { formatInZone } from './dates.ts';
import { hashedKeyNote, showKeyDialog } from './dialog.ts';
import { storeKeyHashes } from './hash-setting.ts';
import { parseClientName, parseExpiry, parseRateLimit } from './input.ts';
import { keyCells } from './key-id.ts';
import { withDocumentLock } from './lock.ts';
import { appendKeyRow, ensureKeysSheet } from './sheets.ts';
import { ask, runAction } from './ui.ts';

const TITLE = 'Generate key';

export function generateKey(): void {
  runAction(() => {
    const ui = SpreadsheetApp.getUi();
    const ss = SpreadsheetApp.getActiveSpreadsheet();
    const { keysSheet } = settings();
    const hashed = storeKeyHashes();
    const timeZone = ss.getSpreadsheetTimeZone();

    const client = ask(ui, TITLE, 'Client name (required): who the key is for.', parseClientName);
    if (!client) return;
    const limit = ask(
      ui, TITLE, `Rate limit for ${client.value}: requests per window, a whole number (blank = ${DEFAULT_RATE_LIMIT}).`,
      (text) => parseRateLimit(text, DEFAULT_RATE_LIMIT),
    );
    if (!limit) return;
    const expiry = ask(
      ui, TITLE, `Expiry (optional): YYYY-MM-DD or YYYY-MM-DD HH:MM, time zone ${timeZone}. Blank: never expires.`,
      (text) => parseExpiry(text, timeZone, Date.now()),
    );
    if (!expiry) return;

    const key = KEY_PREFIX + Utilities.getUuid();
    const row = withDocumentLock(() => {
      const { sheet, columns } = ensureKeysSheet(ss, keysSheet, hashed);
      return appendKeyRow(sheet, columns, [], {
        ...keyCells(key, hashed),
        client_name: client.value,
        created_at: new Date(),
        expires_at: expiry.value ?? '',
        is_active: true,
        rate_limit: limit.value,
      });
    });

    showKeyDialog(ui, `New API key for ${client.value}`, key, [
      `Client: ${client.value} (row ${row} of ${keysSheet})`,
      `Rate limit: ${limit.value} requests per window`,
      expiry.value ? `Expires: ${formatInZone(expiry.value, timeZone)} (${timeZone})` : 'Expires: never',
      ...(hashed ? [hashedKeyNote(key)] : []),
    ]);
  });
}
