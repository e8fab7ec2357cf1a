import type { Logger } from 'pino';
import type { StateDir } from '../state/files.ts';
import { keyIdFromHash } from './keyid.ts';
import type { KeyRecord, KeySet, QuotaPeriod } from './types.ts';

export const KEY_SNAPSHOT_FILE = 'keys-snapshot.json';

/** One record as the snapshot keeps it: its hash and policies, never a key. */
interface SnapshotRecord {
  h: string;
  c: string;
  e: number | null;
  a: boolean;
  r: number;
  t: number | null;
  m: string[] | null;
  tq: number | null;
  rq: number | null;
  qp: QuotaPeriod;
  row: number;
}

interface SnapshotValue {
  time_zone: string;
  loaded_at: number;
  rows_rejected: number;
  records: SnapshotRecord[];
}

const PERIODS = new Set(['day', 'week', 'month']);
const isCount = (v: unknown): boolean => v === null || (typeof v === 'number' && Number.isSafeInteger(v) && v > 0);

function isRecord(r: SnapshotRecord): boolean {
  return (
    typeof r === 'object' && r !== null && typeof r.h === 'string' && /^[0-9a-f]{64}$/.test(r.h) && typeof r.c === 'string' &&
    (r.e === null || typeof r.e === 'number') && typeof r.a === 'boolean' && typeof r.r === 'number' && r.r >= 0 &&
    isCount(r.t) && isCount(r.tq) && isCount(r.rq) && PERIODS.has(r.qp) && Number.isSafeInteger(r.row) &&
    (r.m === null || (Array.isArray(r.m) && r.m.every((m) => typeof m === 'string')))
  );
}

function accept(value: unknown): SnapshotValue | null {
  const v = value as SnapshotValue;
  if (typeof v !== 'object' || v === null || typeof v.time_zone !== 'string' || typeof v.loaded_at !== 'number') return null;
  if (!Array.isArray(v.records) || !v.records.every(isRecord)) return null;
  return v;
}

/**
 * The last good key set in STATE_DIR, for a start while the key source is unreachable. Keys are
 * looked up by hash, so hashes and policies are all it takes; a plain key is never written.
 */
export class KeySnapshot {
  constructor(private readonly dir: StateDir) {}

  async save(keys: KeySet): Promise<void> {
    const records: SnapshotRecord[] = [];
    for (const k of keys.byHash.values()) {
      records.push({
        h: k.keyHash, c: k.clientName, e: k.expiresAt, a: k.isActive, r: k.rateLimit, t: k.tpmLimit,
        m: k.allowedModels ? [...k.allowedModels] : null, tq: k.tokenQuota, rq: k.requestQuota, qp: k.quotaPeriod, row: k.row,
      });
    }
    const value: SnapshotValue = { time_zone: keys.timeZone, loaded_at: keys.loadedAt, rows_rejected: keys.rejected.length, records };
    await this.dir.write(KEY_SNAPSHOT_FILE, value);
  }

  /** The snapshot and when its key set was loaded; null when there is none, or it is corrupt (warned). */
  async load(): Promise<KeySet | null> {
    const file = await this.dir.read(KEY_SNAPSHOT_FILE, accept);
    if (!file) return null;
    const byHash = new Map<string, KeyRecord>();
    for (const r of file.value.records) {
      byHash.set(r.h, {
        keyHash: r.h, keyId: keyIdFromHash(r.h), clientName: r.c, expiresAt: r.e, isActive: r.a, rateLimit: r.r, tpmLimit: r.t,
        allowedModels: r.m ? new Set(r.m) : null, tokenQuota: r.tq, requestQuota: r.rq, quotaPeriod: r.qp, row: r.row,
      });
    }
    return { byHash, rejected: [], loadedAt: file.value.loaded_at, timeZone: file.value.time_zone };
  }
}

/** Key-set snapshots are written at most this often (the first one at once). */
export const SNAPSHOT_MIN_INTERVAL_MS = 60_000;

/**
 * Writes the key set after loads that changed it: at once the first time, then at most once per
 * SNAPSHOT_MIN_INTERVAL_MS (the latest set), because serialising 100,000 records holds the event
 * loop for a moment and a snapshot a minute old serves its purpose as well. A failure only warns.
 */
export class SnapshotWriter {
  private savedSize = -1;
  private savedZone = '';
  private pending: KeySet | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastWrite = 0;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly snapshot: KeySnapshot,
    private readonly log: Logger,
  ) {}

  /** A freshly loaded set; `reused` records were carried over unchanged from the previous one. */
  offer(keys: KeySet, reused: number): void {
    const size = keys.byHash.size;
    if (reused === size && size === this.savedSize && keys.timeZone === this.savedZone) return;
    this.savedSize = size;
    this.savedZone = keys.timeZone;
    this.pending = keys;
    if (this.timer) return;
    this.timer = setTimeout(() => this.write(), Math.max(0, this.lastWrite + SNAPSHOT_MIN_INTERVAL_MS - Date.now()));
    this.timer.unref();
  }

  /** A change still waiting for its turn is written now, so the next start has it. */
  stop(): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.write();
  }

  written(): Promise<void> {
    return this.writing;
  }

  private write(): void {
    this.timer = null;
    const keys = this.pending;
    this.pending = null;
    if (!keys) return;
    this.lastWrite = Date.now();
    this.writing = this.writing.then(() =>
      this.snapshot.save(keys).catch((err: unknown) => {
        this.savedSize = -1;
        this.log.warn({ error: (err as Error).message }, 'cannot write the key-set snapshot to STATE_DIR');
      }),
    );
  }
}
