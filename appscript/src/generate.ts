// Generate key: the menu item opens one form (form-html.ts); the form calls
// createKeyFromForm, which checks everything again, appends the row and answers the key.

import { sheetText } from './cells.ts';
import { ensureColumns } from './columns.ts';
import { DEFAULT_RATE_LIMIT, KEY_PREFIX, settings } from './config.ts';
import { formatInZone, instantCell, todayInZone } from './dates.ts';
import { FORM_HEIGHT_PX, FORM_WIDTH_PX, keyFormHtml } from './form-html.ts';
import { storeKeyHashes } from './hash-setting.ts';
import { parseExpiry } from './input.ts';
import { checkKeyForm, type FormField, type KeyForm } from './key-form.ts';
import { keyCells } from './key-id.ts';
import { withDocumentLock } from './lock.ts';
import { appendKeyRow, ensureKeysSheet } from './sheets.ts';
import { runAction } from './ui.ts';

const TITLE = 'Generate key';
/** Optional columns the form fills; each is added to the header when a key first uses it. */
const POLICY_FIELDS = ['allowed_models', 'tpm_limit', 'token_quota', 'request_quota', 'quota_period', 'contact_email'] as const;
const NUMBER_FIELDS = new Set<FormField>(['rate_limit', 'tpm_limit', 'token_quota', 'request_quota']);

/** What the dialog gets back. Plain strings and numbers: google.script.run cannot return a Date. */
export type KeyFormResult =
  | { ok: true; key: string; row: number; title: string; lines: string[] }
  | { ok: false; errors: Partial<Record<FormField, string>> };

/** Menu item: opens the Generate key form. */
export function generateKey(): void {
  runAction(() => {
    const ui = SpreadsheetApp.getUi();
    const timeZone = SpreadsheetApp.getActiveSpreadsheet().getSpreadsheetTimeZone();
    settings(); // a bad script property is reported now, not after the form is filled in
    const html = keyFormHtml({
      timeZone, today: todayInZone(Date.now(), timeZone), defaultRateLimit: DEFAULT_RATE_LIMIT, hashed: storeKeyHashes(),
    });
    ui.showModalDialog(HtmlService.createHtmlOutput(html).setWidth(FORM_WIDTH_PX).setHeight(FORM_HEIGHT_PX), TITLE);
  });
}

/** A cell for a checked field: numbers as numbers, text kept text, blank as blank. */
function cellOf(clean: KeyForm, name: FormField): string | number {
  const text = clean[name];
  if (text === '') return '';
  return NUMBER_FIELDS.has(name) ? Number(text) : sheetText(text);
}

function summary(clean: KeyForm, expires: Date | null, timeZone: string): string[] {
  const lines = [
    `Rate limit: ${clean.rate_limit} requests per window`,
    expires ? `Expires: ${formatInZone(expires, timeZone)} (${timeZone})` : 'Expires: never',
  ];
  if (clean.allowed_models) lines.push(`Allowed models: ${clean.allowed_models}`);
  if (clean.tpm_limit) lines.push(`Token limit: ${clean.tpm_limit} per window`);
  if (clean.token_quota) lines.push(`Token quota: ${clean.token_quota} per ${clean.quota_period}`);
  if (clean.request_quota) lines.push(`Request quota: ${clean.request_quota} per ${clean.quota_period}`);
  if (clean.contact_email) lines.push(`Contact: ${clean.contact_email}`);
  return lines;
}

/**
 * Called by the form (google.script.run) with its fields as strings. Checks them with the
 * form's own rules and the clock, then appends the key row under the document lock. Bad input
 * is answered with an error per field and writes nothing; a busy lock throws (the form shows it).
 */
export function createKeyFromForm(form: unknown): KeyFormResult {
  const ss = SpreadsheetApp.getActiveSpreadsheet();
  const { keysSheet } = settings();
  const timeZone = ss.getSpreadsheetTimeZone();
  const now = Date.now();
  const sent = form !== null && typeof form === 'object' ? (form as Record<string, unknown>) : {};
  const { errors, clean } = checkKeyForm(sent, todayInZone(now, timeZone), DEFAULT_RATE_LIMIT);
  let expires: Date | null = null;
  if (!errors.expires_at) {
    const parsed = parseExpiry(clean.expires_at, timeZone, now);
    if (parsed.ok) expires = parsed.value;
    else errors.expires_at = parsed.message;
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };

  const hashed = storeKeyHashes();
  const key = KEY_PREFIX + Utilities.getUuid();
  const expiresCell = expires ? instantCell(expires.getTime(), timeZone) : null;
  const row = withDocumentLock(() => {
    const { sheet } = ensureKeysSheet(ss, keysSheet, hashed);
    const { columns } = ensureColumns(sheet, POLICY_FIELDS.filter((name) => clean[name] !== ''));
    const policy: Record<string, unknown> = {};
    for (const name of POLICY_FIELDS) policy[name] = cellOf(clean, name);
    return appendKeyRow(sheet, columns, [], {
      ...policy,
      ...keyCells(key, hashed),
      client_name: sheetText(clean.client_name),
      created_at: instantCell(now, timeZone),
      expires_at: expiresCell ?? '',
      is_active: true,
      rate_limit: Number(clean.rate_limit),
    });
  });

  const lines = [`Client: ${clean.client_name} (row ${row} of ${keysSheet})`, ...summary(clean, expiresCell, timeZone)];
  if (hashed) lines.push('The sheet keeps only this key\'s SHA-256 and its hint: nobody can see the key again, not even you.');
  return { ok: true, key, row, title: `New API key for ${clean.client_name}`, lines };
}
