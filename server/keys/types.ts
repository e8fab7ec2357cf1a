/** One usable key, as parsed from a row of the keys tab. The key itself is never kept. */
export interface KeyRecord {
  /** Lowercase hex SHA-256 of the key: the lookup index. */
  keyHash: string;
  /** First 16 hex of keyHash: what logs and the Usage tab show. */
  keyId: string;
  clientName: string;
  /** First instant (epoch ms) at which the key is expired; null: never. */
  expiresAt: number | null;
  isActive: boolean;
  /** Requests per window; 0 means unlimited. */
  rateLimit: number;
  /** Tokens per window; null means none. */
  tpmLimit: number | null;
  /** Models this key may name; null means any. */
  allowedModels: ReadonlySet<string> | null;
  /** Prompt + completion tokens per quota period for the key's client; null means none. */
  tokenQuota: number | null;
  /** Requests per quota period for the key's client; null means none. */
  requestQuota: number | null;
  /** Calendar period of the quotas, in the key source's time zone. */
  quotaPeriod: QuotaPeriod;
  /** 1-based row in the sheet (or line in the file), for messages. */
  row: number;
}

export type QuotaPeriod = 'day' | 'week' | 'month';

export interface RejectedRow {
  row: number;
  reason: string;
}

export interface KeySet {
  byHash: ReadonlyMap<string, KeyRecord>;
  rejected: readonly RejectedRow[];
  loadedAt: number;
  /** Zone of the key source (the spreadsheet's, or KEYS_TIMEZONE): quota periods are its calendar days. */
  timeZone: string;
}

/** What a key source hands back: raw cells (first row the header) and the zone of offset-less dates. */
export interface RawKeyTable {
  values: unknown[][];
  timeZone: string;
}

/** A table read batch by batch: its rows (header first) go to `onRows` as they are read. */
export interface RowStream {
  timeZone: string;
  forEachBatch(onRows: (rows: unknown[][]) => void): Promise<void>;
}

/** A place keys are read from: the Sheets API, a CSV file, or memory. Throws on I/O failure. */
export interface KeySource {
  readonly kind: 'google_sheets' | 'file' | 'memory';
  /** A description safe to log (no secrets). */
  readonly description: string;
  load(): Promise<RawKeyTable>;
  /** Sources that can read incrementally: the gateway then never holds the whole table. */
  openRows?(): Promise<RowStream>;
}

export type Verification =
  | { ok: true; record: KeyRecord }
  | { ok: false; code: 'invalid_api_key' | 'expired_api_key'; keyId: string };
