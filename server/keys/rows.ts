import { parseExpiry } from './dates.ts';
import { keyIdFromHash, sha256Hex } from './keyid.ts';
import type { KeyRecord, KeySet, QuotaPeriod, RejectedRow } from './types.ts';

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

export interface ParseResult {
  records: KeyRecord[];
  rejected: RejectedRow[];
  /**
   * The same records by key hash (what a KeySet indexes): the previous set's own map when nothing
   * changed, or when a small change was patched into it (`patchInPlace`).
   */
  byHash: ReadonlyMap<string, KeyRecord>;
  /** How many records were carried over unchanged from the previous key set. */
  reused: number;
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

/** Rows parsed per step of an incremental parse: one step stays well under a millisecond. */
export const ROWS_PER_STEP = 250;

function sameModels(a: ReadonlySet<string> | null, b: ReadonlySet<string> | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.size !== b.size) return false;
  for (const m of a) if (!b.has(m)) return false;
  return true;
}

/** Whether two records say exactly the same thing (then the older one can stand for both). */
export function sameRecord(a: KeyRecord, b: KeyRecord): boolean {
  return (
    a.keyHash === b.keyHash &&
    a.clientName === b.clientName &&
    a.expiresAt === b.expiresAt &&
    a.isActive === b.isActive &&
    a.rateLimit === b.rateLimit &&
    a.tpmLimit === b.tpmLimit &&
    a.tokenQuota === b.tokenQuota &&
    a.requestQuota === b.requestQuota &&
    a.quotaPeriod === b.quotaPeriod &&
    a.row === b.row &&
    sameModels(a.allowedModels, b.allowedModels)
  );
}

/** A copy of a string that shares no memory with the text it was cut from (a whole read of the file). */
function ownCopy(text: string): string {
  return text.length < 13 ? text : (' ' + text).slice(1);
}

/**
 * The record a key set keeps, built apart from the candidate every row produces. Two reasons,
 * both about reloads, measured on 100,000 keys: V8 decides per allocation site whether objects
 * outlive the young generation, and once a site's objects all survived (the first load keeps
 * every record), it allocates them straight into the old generation; so candidates, which are
 * thrown away on every later reload, must not share a site with what is kept (otherwise each
 * reload left 40 MB of garbage for a full GC to find, and RSS climbed). And cells are slices of
 * a whole read: kept as they are, a client name would hold its 16 KB read alive.
 */
function keep(c: KeyRecord): KeyRecord {
  return {
    keyHash: c.keyHash,
    keyId: c.keyId,
    clientName: ownCopy(c.clientName),
    expiresAt: c.expiresAt,
    isActive: c.isActive,
    rateLimit: c.rateLimit,
    tpmLimit: c.tpmLimit,
    allowedModels: c.allowedModels,
    tokenQuota: c.tokenQuota,
    requestQuota: c.requestQuota,
    quotaPeriod: c.quotaPeriod,
    row: c.row,
  };
}

/** Index entries visited per step when a reload changed something: building a new index, or finding the removed records (about a millisecond). */
const INDEX_ENTRIES_PER_STEP = 5_000;

/** Runs a stepped parse to its end without pausing. */
function runSteps<T>(steps: Generator<void, T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** A change this small (changed plus removed records, against the previous set) is patched in place. */
function patchLimit(previousSize: number): number {
  return Math.max(1_000, Math.floor(previousSize / 16));
}

/** Indexes a record, or moves its key to the duplicates (a key on several rows is refused on all). */
function addTo(index: Map<string, KeyRecord>, duplicates: Map<string, KeyRecord[]>, record: KeyRecord): void {
  const first = index.get(record.keyHash);
  if (first) {
    index.delete(record.keyHash);
    duplicates.set(record.keyHash, [first, record]);
    return;
  }
  const group = duplicates.get(record.keyHash);
  if (group) group.push(record);
  else index.set(record.keyHash, record);
}

/**
 * Parses the keys tab row by row, as the rows arrive (first row the header; numbers, booleans,
 * serial dates or text): a key source can stream a large table through it without ever holding
 * the whole table. Bad rows are rejected with their row number and reason, never the key; a key
 * on several rows rejects all of them. Throws HeaderError when the header is unusable.
 *
 * Given the previous key set, a row that says exactly what it said last time keeps its previous
 * record, and only rows that changed are kept apart: a reload of a mostly unchanged sheet
 * allocates next to nothing that outlives it. A previous record was reused exactly when its row
 * was not touched (changed, rejected or blank) and still exists: records are unique per row. With
 * `patchInPlace` (the KeyStore, which owns the previous index) a small change is applied to the
 * previous index in one synchronous step instead of building a new one: reloading 100,000 keys
 * after an edit then leaves no 100,000-entry index behind for the garbage collector.
 */
export class KeyRowParser {
  private cols: Columns | null = null;
  private rowNumber = 0;
  private readonly rejected: RejectedRow[] = [];
  /** Records of rows that are not previous records on their rows, in row order. */
  private readonly changed: KeyRecord[] = [];
  /** Rows that did not reuse a previous record (changed, rejected, blank); kept only with a previous set. */
  private readonly touched = new Set<number>();
  /** Records carried over unchanged from the previous key set. */
  reused = 0;

  constructor(
    private readonly opts: ParseOptions,
    private readonly previous: ReadonlyMap<string, KeyRecord> | null = null,
    private readonly patchInPlace = false,
  ) {}

  /** The next row of the table; the first one is the header. */
  push(cells: unknown[] | undefined): void {
    this.rowNumber += 1;
    const row = this.rowNumber;
    if (this.cols === null) {
      if (!Array.isArray(cells) || cells.every(isBlank)) throw new HeaderError('the keys tab is empty: no header row');
      this.cols = mapHeader(cells);
      return;
    }
    if (!Array.isArray(cells) || cells.every(isBlank)) {
      this.touch(row); // empty rows are spacing, not errors
      return;
    }
    const outcome = parseRow(cells, row, this.cols, this.opts);
    if (!outcome.ok) {
      this.rejected.push({ row, reason: outcome.reason });
      this.touch(row);
      return;
    }
    const candidate = outcome.record;
    const before = this.previous?.get(candidate.keyHash);
    if (before && sameRecord(before, candidate)) {
      this.reused += 1;
      return;
    }
    this.changed.push(keep(candidate));
    this.touch(row);
  }

  /** The parse of every row pushed, yielding between index steps; throws HeaderError when not even a header came. */
  *finishInSteps(): Generator<void, ParseResult> {
    if (this.cols === null) throw new HeaderError('the keys tab is empty: no header row');
    const previous = this.previous;
    const duplicates = new Map<string, KeyRecord[]>();
    let byHash: ReadonlyMap<string, KeyRecord>;
    const removed = previous ? previous.size - this.reused : 0;
    if (previous && this.changed.length === 0 && removed === 0) {
      byHash = previous; // every record, each on its row: the same key set
    } else if (previous && this.patchInPlace && this.changed.length + removed <= patchLimit(previous.size)) {
      byHash = yield* this.patch(previous as Map<string, KeyRecord>, removed, duplicates);
    } else {
      const index = new Map<string, KeyRecord>();
      let n = 0;
      if (previous) {
        for (const record of previous.values()) {
          if (++n % INDEX_ENTRIES_PER_STEP === 0) yield;
          if (this.wasReused(record)) index.set(record.keyHash, record);
        }
      }
      for (const record of this.changed) {
        if (++n % INDEX_ENTRIES_PER_STEP === 0) yield;
        addTo(index, duplicates, record);
      }
      byHash = index;
    }
    for (const group of duplicates.values()) {
      group.sort((x, y) => x.row - y.row);
      const rows = group.map((r) => r.row).join(', ');
      for (const r of group) this.rejected.push({ row: r.row, reason: `the same key is on rows ${rows}` });
    }
    this.rejected.sort((a, b) => a.row - b.row);
    return {
      get records() {
        return [...byHash.values()].sort((a, b) => a.row - b.row);
      },
      rejected: this.rejected,
      byHash,
      reused: this.reused,
    };
  }

  finish(): ParseResult {
    return runSteps(this.finishInSteps());
  }

  private touch(row: number): void {
    if (this.previous) this.touched.add(row);
  }

  /** Whether a previous record is still on its row, unchanged. */
  private wasReused(record: KeyRecord): boolean {
    return record.row <= this.rowNumber && !this.touched.has(record.row);
  }

  /**
   * Applies a small change to the previous index: removes the records that are gone, adds the
   * changed ones, refuses keys now on several rows. Finding what is gone may take a scan of the
   * previous index (in steps); every mutation then happens in one synchronous stretch, so a
   * request sees the old key set or the new one, never a mix.
   */
  private *patch(index: Map<string, KeyRecord>, removed: number, duplicates: Map<string, KeyRecord[]>): Generator<void, Map<string, KeyRecord>> {
    const fresh = new Map<string, KeyRecord>();
    for (const record of this.changed) addTo(fresh, duplicates, record);
    for (const [hash, group] of duplicates) {
      const before = index.get(hash);
      if (before && this.wasReused(before)) group.push(before);
    }
    for (const [hash, record] of fresh) {
      const before = index.get(hash);
      if (before && this.wasReused(before)) {
        fresh.delete(hash);
        duplicates.set(hash, [before, record]);
      }
    }
    // Previous records that are gone: usually the ones a changed row replaced, found by their key.
    const gone = new Set<KeyRecord>();
    for (const record of this.changed) {
      const before = index.get(record.keyHash);
      if (before && !this.wasReused(before)) gone.add(before);
    }
    if (gone.size < removed) {
      let n = 0;
      for (const record of index.values()) {
        if (++n % INDEX_ENTRIES_PER_STEP === 0) yield;
        if (!this.wasReused(record)) gone.add(record);
      }
    }
    for (const record of gone) index.delete(record.keyHash);
    for (const hash of duplicates.keys()) index.delete(hash);
    for (const [hash, record] of fresh) index.set(hash, record);
    return index;
  }
}

/**
 * Parses a whole table already in memory (as the Sheets API returns it). A generator: it yields
 * after every `rowsPerStep` rows, so a caller can let requests run between steps while a large
 * sheet is parsed (see KeyStore); `parseKeyRows` runs it in one go.
 */
export function* parseKeyRowsInSteps(
  values: unknown[][],
  opts: ParseOptions,
  rowsPerStep = ROWS_PER_STEP,
  previous: ReadonlyMap<string, KeyRecord> | null = null,
  patchInPlace = false,
): Generator<void, ParseResult> {
  const parser = new KeyRowParser(opts, previous, patchInPlace);
  parser.push(values[0]);
  for (let i = 1; i < values.length; i += 1) {
    if (i % rowsPerStep === 0) yield;
    parser.push(values[i]);
  }
  return yield* parser.finishInSteps();
}

export function parseKeyRows(values: unknown[][], opts: ParseOptions, previous: ReadonlyMap<string, KeyRecord> | null = null): ParseResult {
  return runSteps(parseKeyRowsInSteps(values, opts, Infinity, previous));
}

export function toKeySet(result: ParseResult, loadedAt: number, timeZone = 'UTC'): KeySet {
  return { byHash: result.byHash, rejected: result.rejected, loadedAt, timeZone };
}
