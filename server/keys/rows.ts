import { HeaderError, isBlank, mapHeader, parseRow, type Columns, type ParseOptions } from './row.ts';
import type { KeyRecord, KeySet, RejectedRow } from './types.ts';

export { HeaderError, KEY_COLUMNS, MAX_CLIENT_NAME_LENGTH, MIN_KEY_LENGTH, mapHeader, parseActive, POLICY_COLUMNS, type ParseOptions } from './row.ts';

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
