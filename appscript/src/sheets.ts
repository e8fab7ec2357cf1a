// Access to the two tabs and to single key rows.

import { cell, ensureColumns, readColumns, type Columns } from './columns.ts';
import { HASH_HEADER, HASHED_KEYS_HEADERS, HINT_HEADER, KEYS_HEADERS } from './config.ts';
import { maskKey } from './cells.ts';
import { rowKeyId } from './key-id.ts';
import { refreshGreyRule } from './rules.ts';
import { UserError } from './ui.ts';

type Spreadsheet = GoogleAppsScript.Spreadsheet.Spreadsheet;
type Sheet = GoogleAppsScript.Spreadsheet.Sheet;

export function getOrInsertSheet(ss: Spreadsheet, name: string): { sheet: Sheet; created: boolean } {
  const existing = ss.getSheetByName(name);
  return existing ? { sheet: existing, created: false } : { sheet: ss.insertSheet(name), created: true };
}

/**
 * Adds the contract's headers the keys tab lacks, and with `hashed` also api_key_sha256 and
 * key_hint, after the existing columns. Call under the lock.
 */
export function ensureKeyColumns(sheet: Sheet, hashed: boolean): Columns {
  const { columns, added } = ensureColumns(sheet, hashed ? HASHED_KEYS_HEADERS : KEYS_HEADERS);
  if (added.includes(HASH_HEADER)) refreshGreyRule(sheet, columns);
  return columns;
}

/** The keys tab with at least the contract's headers (see ensureKeyColumns); creates what is missing. Call under the lock. */
export function ensureKeysSheet(ss: Spreadsheet, name: string, hashed: boolean): { sheet: Sheet; columns: Columns } {
  const { sheet } = getOrInsertSheet(ss, name);
  return { sheet, columns: ensureKeyColumns(sheet, hashed) };
}

function readRow(sheet: Sheet, row: number): unknown[] {
  const width = sheet.getLastColumn();
  if (width === 0 || row > sheet.getLastRow()) return [];
  return sheet.getRange(row, 1, 1, width).getValues()[0] ?? [];
}

/**
 * Appends `base` (a copy of another row, or []) with `fields` set by header name; returns
 * the new row's number. appendRow is atomic, so a row the gateway appends cannot interleave.
 */
export function appendKeyRow(sheet: Sheet, columns: Columns, base: readonly unknown[], fields: Record<string, unknown>): number {
  const width = Math.max(sheet.getLastColumn(), ...columns.values());
  const row: unknown[] = [];
  for (let i = 0; i < width; i++) row.push(base[i] ?? '');
  for (const [name, value] of Object.entries(fields)) {
    const column = columns.get(name);
    if (column !== undefined) row[column - 1] = value;
  }
  sheet.appendRow(row);
  return sheet.getLastRow();
}

export interface KeyRow {
  sheet: Sheet;
  columns: Columns;
  row: number;
  values: unknown[];
  keyId: string;
  /** The row holds api_key_sha256 rather than the key itself. */
  hashed: boolean;
  /** How messages name the key without showing it. */
  label: string;
  client: string;
}

function keyRowAt(sheet: Sheet, row: number): KeyRow | null {
  const columns = readColumns(sheet);
  const values = readRow(sheet, row);
  const keyId = rowKeyId(values, columns);
  if (keyId === null) return null;
  const key = String(cell(values, columns, 'api_key')).trim();
  const hint = String(cell(values, columns, HINT_HEADER)).trim();
  const hashed = String(cell(values, columns, HASH_HEADER)).trim() !== '';
  const label = key !== '' ? maskKey(key) : hint !== '' ? hint : `key id ${keyId}`;
  return { sheet, columns, row, values, keyId, hashed, label, client: String(cell(values, columns, 'client_name')).trim() };
}

/** The key row the admin selected on the keys tab; a UserError saying what to select otherwise. */
export function selectedKeyRow(ss: Spreadsheet, keysSheetName: string, verb: string): KeyRow {
  const sheet = ss.getActiveSheet();
  const howTo = `To ${verb} a key, click a cell in its row on the "${keysSheetName}" tab, then choose ${verb} again.`;
  if (sheet.getName() !== keysSheetName) {
    throw new UserError(`The selection is on the "${sheet.getName()}" tab. ${howTo}`);
  }
  const range = ss.getActiveRange();
  if (!range) throw new UserError(`Nothing is selected. ${howTo}`);
  if (range.getNumRows() !== 1) throw new UserError(`The selection spans ${range.getNumRows()} rows; select one. ${howTo}`);
  if (range.getRow() === 1) throw new UserError(`The header row is selected. ${howTo}`);
  const keyRow = keyRowAt(sheet, range.getRow());
  if (!keyRow) throw new UserError(`Row ${range.getRow()} holds no API key. ${howTo}`);
  return keyRow;
}

/**
 * Reads the row again under the lock: another admin may have sorted or deleted rows while
 * this one was reading a confirmation. Returns the fresh row, with every contract header.
 */
export function rereadKeyRow(selected: KeyRow): KeyRow {
  ensureKeyColumns(selected.sheet, false);
  const fresh = keyRowAt(selected.sheet, selected.row);
  if (!fresh || fresh.keyId !== selected.keyId) {
    throw new UserError(`Row ${selected.row} changed in the meantime; nothing was written. Select the key again.`);
  }
  return fresh;
}
