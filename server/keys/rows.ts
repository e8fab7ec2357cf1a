import { parseExpiry } from './dates.ts';
import { keyIdFromHash, sha256Hex } from './keyid.ts';
import type { KeyRecord, KeySet, RejectedRow } from './types.ts';

/** Keys shorter than this are rejected: too easy to guess. */
export const MIN_KEY_LENGTH = 16;

export const KEY_COLUMNS = ['api_key', 'client_name', 'created_at', 'expires_at', 'is_active', 'rate_limit'] as const;
export const POLICY_COLUMNS = ['api_key_sha256', 'allowed_models', 'tpm_limit'] as const;
const KNOWN = new Set<string>([...KEY_COLUMNS, ...POLICY_COLUMNS]);

export class HeaderError extends Error {}

export interface ParseOptions {
  timeZone: string;
  defaultRateLimit: number;
}

export interface ParseResult {
  records: KeyRecord[];
  rejected: RejectedRow[];
  /** The same records by key hash (what a KeySet indexes). */
  byHash: Map<string, KeyRecord>;
}

type Columns = Partial<Record<string, number>>;

/** Finds the known columns by name, case-insensitively and in any order. */
export function mapHeader(header: unknown[]): Columns {
  const columns: Columns = {};
  header.forEach((cell, index) => {
    const name = String(cell ?? '').trim().toLowerCase();
    if (!KNOWN.has(name)) return;
    if (columns[name] !== undefined) throw new HeaderError(`the header names column "${name}" twice`);
    columns[name] = index;
  });
  if (columns.api_key === undefined && columns.api_key_sha256 === undefined) {
    throw new HeaderError('the header has no api_key (or api_key_sha256) column');
  }
  return columns;
}

const TRUE_WORDS = new Set(['true', 'yes', '1']);

/** Sheet booleans or text true/false/yes/no/1/0 in any case; anything else is inactive. */
export function parseActive(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value === 1;
  if (typeof value === 'string') return TRUE_WORDS.has(value.trim().toLowerCase());
  return false;
}

function isBlank(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

/** A positive whole number from a number cell or digits in text. */
function parsePositiveInt(value: unknown): number | null {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  if (!/^\d+$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

function text(value: unknown): string {
  return isBlank(value) ? '' : String(value).trim();
}

type RowOutcome = { ok: true; record: KeyRecord } | { ok: false; reason: string };

function parseRow(cells: unknown[], row: number, cols: Columns, opts: ParseOptions): RowOutcome {
  const cell = (name: string): unknown => (cols[name] === undefined ? undefined : cells[cols[name]]);

  const key = text(cell('api_key'));
  const givenHash = text(cell('api_key_sha256')).toLowerCase();
  if (key && givenHash) return { ok: false, reason: 'row has both api_key and api_key_sha256; keep one' };
  let keyHash: string;
  if (givenHash) {
    if (!/^[0-9a-f]{64}$/.test(givenHash)) return { ok: false, reason: 'api_key_sha256 is not 64 hex characters' };
    keyHash = givenHash;
  } else {
    if (!key) return { ok: false, reason: 'api_key is blank' };
    if (key.length < MIN_KEY_LENGTH) return { ok: false, reason: `api_key is shorter than ${MIN_KEY_LENGTH} characters` };
    keyHash = sha256Hex(key);
  }

  const expiry = parseExpiry(cell('expires_at'), opts.timeZone);
  if (!expiry.ok) return { ok: false, reason: expiry.reason };

  let rateLimit = opts.defaultRateLimit;
  const rawLimit = cell('rate_limit');
  if (!isBlank(rawLimit)) {
    const n = parsePositiveInt(rawLimit);
    if (n === null) return { ok: false, reason: 'rate_limit is not a positive integer' };
    rateLimit = n;
  }

  let tpmLimit: number | null = null;
  const rawTpm = cell('tpm_limit');
  if (!isBlank(rawTpm)) {
    tpmLimit = parsePositiveInt(rawTpm);
    if (tpmLimit === null) return { ok: false, reason: 'tpm_limit is not a positive integer' };
  }

  let allowedModels: Set<string> | null = null;
  const rawModels = text(cell('allowed_models'));
  if (rawModels) {
    const models = rawModels.split(',').map((m) => m.trim());
    if (models.some((m) => m === '')) return { ok: false, reason: 'allowed_models has an empty entry' };
    allowedModels = new Set(models);
  }

  return {
    ok: true,
    record: {
      keyHash,
      keyId: keyIdFromHash(keyHash),
      clientName: text(cell('client_name')),
      expiresAt: expiry.expiresAt,
      isActive: parseActive(cell('is_active')),
      rateLimit,
      tpmLimit,
      allowedModels,
      row,
    },
  };
}

/** Rows parsed per step of an incremental parse: one step stays well under a millisecond. */
export const ROWS_PER_STEP = 250;

/**
 * Parses the keys tab as the Sheets API returns it (first row the header; numbers, booleans,
 * serial dates or text). Bad rows are rejected with their row number and reason, never the key;
 * a key on several rows rejects all of them. Throws HeaderError when the header is unusable.
 *
 * A generator: it yields after every `rowsPerStep` rows, so a caller can let requests run between
 * steps while a large sheet is parsed (see KeyStore); `parseKeyRows` runs it in one go.
 */
export function* parseKeyRowsInSteps(values: unknown[][], opts: ParseOptions, rowsPerStep = ROWS_PER_STEP): Generator<void, ParseResult> {
  const header = values[0];
  if (!header || header.every(isBlank)) throw new HeaderError('the keys tab is empty: no header row');
  const cols = mapHeader(header);

  const rejected: RejectedRow[] = [];
  const byHash = new Map<string, KeyRecord>();
  const duplicates = new Map<string, KeyRecord[]>();
  for (let i = 1; i < values.length; i += 1) {
    if (i % rowsPerStep === 0) yield;
    const cells = values[i];
    const row = i + 1;
    if (!Array.isArray(cells) || cells.every(isBlank)) continue; // empty rows are spacing, not errors
    const outcome = parseRow(cells, row, cols, opts);
    if (!outcome.ok) {
      rejected.push({ row, reason: outcome.reason });
      continue;
    }
    const { record } = outcome;
    const first = byHash.get(record.keyHash);
    const dup = first ? [first, record] : duplicates.get(record.keyHash)?.concat(record);
    if (dup) {
      byHash.delete(record.keyHash);
      duplicates.set(record.keyHash, dup);
    } else {
      byHash.set(record.keyHash, record);
    }
  }

  for (const group of duplicates.values()) {
    const rows = group.map((r) => r.row).join(', ');
    for (const r of group) rejected.push({ row: r.row, reason: `the same key is on rows ${rows}` });
  }
  rejected.sort((a, b) => a.row - b.row);
  return { records: [...byHash.values()], rejected, byHash };
}

export function parseKeyRows(values: unknown[][], opts: ParseOptions): ParseResult {
  const steps = parseKeyRowsInSteps(values, opts, Infinity);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

export function toKeySet(result: ParseResult, loadedAt: number): KeySet {
  return { byHash: result.byHash, rejected: result.rejected, loadedAt };
}
