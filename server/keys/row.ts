// One row of the keys tab: the header's columns and the rules each cell is held to (DESIGN.md,
// "The keys tab"). rows.ts drives these over a whole table and keeps the served index.
import { parseExpiry } from './dates.ts';
import { keyIdFromHash, sha256Hex } from './keyid.ts';
import type { KeyRecord, QuotaPeriod } from './types.ts';

/** Keys shorter than this are rejected: too easy to guess. */
export const MIN_KEY_LENGTH = 16;
/** Longer names would make every answer carry a huge X-Client-Name header (SDKs choke on it). */
export const MAX_CLIENT_NAME_LENGTH = 200;
/** Keys are sent in HTTP headers: only printable ASCII can ever arrive, so nothing else may load. */
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;

export const KEY_COLUMNS = ['api_key', 'client_name', 'created_at', 'expires_at', 'is_active', 'rate_limit'] as const;
export const POLICY_COLUMNS = ['api_key_sha256', 'allowed_models', 'tpm_limit', 'token_quota', 'request_quota', 'quota_period'] as const;
const KNOWN = new Set<string>([...KEY_COLUMNS, ...POLICY_COLUMNS]);

export class HeaderError extends Error {}

export interface ParseOptions {
  timeZone: string;
  defaultRateLimit: number;
}


export type Columns = Partial<Record<string, number>>;

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

export function isBlank(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

/** A positive whole number from a number cell or digits in text. */
function parsePositiveInt(value: unknown): number | null {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  if (!/^\d+$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

/** Blank: null (no limit); a positive whole number; anything else: undefined (the row is rejected). */
function parseOptionalLimit(value: unknown): number | null | undefined {
  if (isBlank(value)) return null;
  return parsePositiveInt(value) ?? undefined;
}

const QUOTA_PERIODS = new Set<string>(['day', 'week', 'month']);

/** Blank: month; day, week or month in any case; anything else: null (the row is rejected). */
function parseQuotaPeriod(value: unknown): QuotaPeriod | null {
  if (isBlank(value)) return 'month';
  const word = typeof value === 'string' ? value.trim().toLowerCase() : '';
  return QUOTA_PERIODS.has(word) ? (word as QuotaPeriod) : null;
}

function text(value: unknown): string {
  return isBlank(value) ? '' : String(value).trim();
}

type RowOutcome = { ok: true; record: KeyRecord } | { ok: false; reason: string };

export function parseRow(cells: unknown[], row: number, cols: Columns, opts: ParseOptions): RowOutcome {
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
    if (!PRINTABLE_ASCII.test(key)) return { ok: false, reason: 'api_key has characters outside printable ASCII (spaces included)' };
    keyHash = sha256Hex(key);
  }
  const clientName = text(cell('client_name'));
  if (clientName.length > MAX_CLIENT_NAME_LENGTH) return { ok: false, reason: `client_name is longer than ${MAX_CLIENT_NAME_LENGTH} characters` };

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

  const tokenQuota = parseOptionalLimit(cell('token_quota'));
  if (tokenQuota === undefined) return { ok: false, reason: 'token_quota is not a positive integer' };
  const requestQuota = parseOptionalLimit(cell('request_quota'));
  if (requestQuota === undefined) return { ok: false, reason: 'request_quota is not a positive integer' };
  const quotaPeriod = parseQuotaPeriod(cell('quota_period'));
  if (quotaPeriod === null) return { ok: false, reason: 'quota_period is not day, week or month' };

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
      clientName,
      expiresAt: expiry.expiresAt,
      isActive: parseActive(cell('is_active')),
      rateLimit,
      tpmLimit,
      allowedModels,
      tokenQuota,
      requestQuota,
      quotaPeriod,
      row,
    },
  };
}
