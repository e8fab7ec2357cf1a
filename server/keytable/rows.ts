import { DateTime } from 'luxon';
import { parseExpiry } from '../keys/dates.ts';
import { keyIdFromHash, sha256Hex } from '../keys/keyid.ts';
import { mapHeader, parseActive, parseKeyRows } from '../keys/rows.ts';
import { headerNames, isBlankCell } from './header.ts';
import { HASH_COLUMN, HINT_COLUMN, labelFromHint, maskKey } from './keys.ts';
import type { CellInput, TableData } from './table.ts';

export type KeyStatus = 'active' | 'expired' | 'inactive' | 'rejected';

/** What the CLI shows and acts on for one row of the keys tab. Never holds the key. */
export interface KeyRowView {
  /** 1-based row (the header is row 1). */
  row: number;
  keyHash: string | null;
  keyId: string | null;
  /** `sk-convergence-…abcd` (from the key or key_hint), or '' when neither tells. */
  label: string;
  hashed: boolean;
  /** Length of the plain api_key; 0 when the row has none. */
  plainKeyLength: number;
  /** The api_key_sha256 cell as written (lowercased), '' when blank. */
  storedHash: string;
  clientName: string;
  /** The is_active cell as the gateway reads it, whatever else is wrong with the row. */
  isActive: boolean;
  /** As the gateway sees the row now: rejected rows never let a key in. */
  status: KeyStatus;
  reason: string | null;
  /** Requests per window (0: unlimited); null for rejected rows. */
  rateLimit: number | null;
  rateLimitIsDefault: boolean;
  /** First instant the key is expired; null: never (or unparseable, see status). */
  expiresAt: number | null;
  /** expires_at names a day, not an instant: valid through that day. */
  expiresOnDay: boolean;
  /** expires_at as a value to write elsewhere (rotate copies it); '' for never. */
  expiry: CellInput;
  /** The client's quotas as the gateway reads them (null: none, or the row is rejected). */
  tokenQuota: number | null;
  requestQuota: number | null;
  quotaPeriod: 'day' | 'week' | 'month';
}

function text(value: unknown): string {
  return isBlankCell(value) ? '' : String(value).trim();
}

function isDayValue(value: unknown): boolean {
  if (typeof value === 'number') return Number.isInteger(value);
  return typeof value === 'string' && /^(\d{4}-\d{2}-\d{2}|\d+)$/.test(value.trim());
}

/** The expiry cell as a value to write again: a day stays a day, anything else becomes its instant. */
function expiryInput(value: unknown, expiresAt: number | null, timeZone: string): CellInput {
  if (expiresAt === null) return '';
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value.trim())) return { day: value.trim() };
  if (isDayValue(value)) return { day: DateTime.fromMillis(expiresAt - 1, { zone: timeZone }).toISODate()! };
  return { instant: expiresAt };
}

/**
 * Reads every non-blank row the way the gateway does (parseKeyRows: statuses, rejections,
 * duplicate keys), plus what an admin needs: key id, masked key, row number.
 * Throws HeaderError when the header is unusable.
 */
export function viewRows(data: TableData, opts: { now: number; defaultRateLimit: number }): KeyRowView[] {
  const { values, timeZone } = data;
  const parsed = parseKeyRows(values, { timeZone, defaultRateLimit: opts.defaultRateLimit });
  mapHeader(values[0] ?? []); // the gateway's own header checks (duplicates, no key column)
  const names = headerNames(values);
  const at = (cells: unknown[], name: string): unknown => {
    const index = names.indexOf(name);
    return index < 0 ? undefined : cells[index];
  };
  const records = new Map(parsed.records.map((r) => [r.row, r]));
  const rejected = new Map(parsed.rejected.map((r) => [r.row, r.reason]));
  const views: KeyRowView[] = [];
  values.slice(1).forEach((cells, index) => {
    if (!Array.isArray(cells) || cells.every(isBlankCell)) return;
    const row = index + 2;
    const key = text(at(cells, 'api_key'));
    const givenHash = text(at(cells, HASH_COLUMN)).toLowerCase();
    const keyHash = key ? sha256Hex(key) : /^[0-9a-f]{64}$/.test(givenHash) ? givenHash : null;
    const expiryCell = at(cells, 'expires_at');
    const expiry = parseExpiry(expiryCell, timeZone);
    const expiresAt = expiry.ok ? expiry.expiresAt : null;
    const record = records.get(row);
    const reason = rejected.get(row) ?? null;
    let status: KeyStatus = 'rejected';
    if (record && !reason) status = !record.isActive ? 'inactive' : record.expiresAt !== null && opts.now >= record.expiresAt ? 'expired' : 'active';
    views.push({
      row,
      keyHash,
      keyId: keyHash ? keyIdFromHash(keyHash) : null,
      label: key ? maskKey(key) : labelFromHint(text(at(cells, HINT_COLUMN))),
      hashed: !key && givenHash !== '',
      plainKeyLength: key.length,
      storedHash: givenHash,
      clientName: text(at(cells, 'client_name')),
      isActive: parseActive(at(cells, 'is_active')),
      status,
      reason,
      rateLimit: record && !reason ? record.rateLimit : null,
      rateLimitIsDefault: isBlankCell(at(cells, 'rate_limit')),
      expiresAt,
      expiresOnDay: expiresAt !== null && isDayValue(expiryCell),
      expiry: expiryInput(expiryCell, expiresAt, timeZone),
      tokenQuota: record && !reason ? record.tokenQuota : null,
      requestQuota: record && !reason ? record.requestQuota : null,
      quotaPeriod: record?.quotaPeriod ?? 'month',
    });
  });
  return views;
}
