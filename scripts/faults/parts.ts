/**
 * The real parts a fault scenario runs against, all on 127.0.0.1: the gateway as a process of its
 * own (`server/main.ts`, as `npm start` runs it), the stand-in vLLM, the fake Sheets API with a
 * real service account, a real redis-server. Every part started is stopped by `closeAll`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEntry } from '../bench/processes.ts';
import { startFakeVllm, type FakeVllm, type FakeVllmOptions } from '../fake-vllm.ts';
import { FakeSheets, type Cell } from '../../test/support/fake-sheets.ts';
import { makeServiceAccount, writeServiceAccount, type ServiceAccount } from '../../test/support/service-account.ts';
import { keysLoaded, spawnGateway, type GatewayProcess } from '../../test/support/process.ts';
import { startRedis, type RedisServer } from '../../test/support/redis.ts';
import { rowsAsRecords, grandTotal, type UsageTotals } from '../../test/support/usage-reader.ts';

export const KEY = 'sk-convergence-faults00-0000-4000-8000-00000000f001';
export const SHEET_ID = 'faults-sheet';
const KEY_HEADER: Cell[] = ['api_key', 'client_name', 'created_at', 'expires_at', 'is_active', 'rate_limit'];
/** No rate limit gets in the way of the load: the scenarios attack faults, not limits. */
const LIMIT = '1000000';

/** Gateways still running: killed if the run exits before a scenario could stop them. */
const running = new Set<GatewayProcess>();
process.once('exit', () => {
  for (const gw of running) gw.child.kill('SIGKILL');
});

export class Parts {
  readonly dir = mkdtempSync(join(tmpdir(), 'cg-faults-'));
  private readonly closers: Array<() => Promise<unknown>> = [];
  private account: ServiceAccount | null = null;

  /** The stand-in vLLM, in this process (its tallies are read directly). */
  async vllm(opts: FakeVllmOptions = {}): Promise<FakeVllm> {
    const v = await startFakeVllm(opts);
    this.closers.push(() => v.close());
    return v;
  }

  /** The stand-in vLLM in a process of its own (scripts/faults/stand-in.ts); `tokens()` asks it for its tally. */
  async vllmProcess(chunkDelayMs: number): Promise<{ url: string; tokens(): Promise<StandInTally> }> {
    const child = await startEntry('scripts/faults/stand-in.ts', { CHUNK_DELAY_MS: String(chunkDelayMs) });
    this.closers.push(() => child.stop());
    return { url: child.url, tokens: async () => (await child.ask('tokens')) as StandInTally };
  }

  /**
   * A redis-server on a free loopback port. `aof`: with an append-only file fsynced on every write
   * (docs/usage.md asks for persistence), so a SIGKILL loses nothing it acknowledged.
   */
  async redis(opts: { aof?: boolean } = {}): Promise<RedisServer> {
    const r = await startRedis(opts.aof ? ['--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always'] : []);
    this.closers.push(() => r.stop());
    return r;
  }

  /** The fake Sheets API holding one key in API_Keys, shared with a fresh service account. */
  async sheets(opts: ConstructorParameters<typeof FakeSheets>[0] = {}): Promise<{ sheets: FakeSheets; env: Record<string, string> }> {
    this.account ??= makeServiceAccount('faults');
    const sheets = new FakeSheets(opts);
    await sheets.start();
    this.closers.push(() => sheets.stop());
    sheets.addServiceAccount(this.account.email, this.account.publicKey);
    sheets.createSpreadsheet(SHEET_ID, { sharedWith: [this.account.email] });
    sheets.setTab(SHEET_ID, 'API_Keys', [KEY_HEADER, [KEY, 'Faults', '', '', 'TRUE', LIMIT]]);
    const credentials = writeServiceAccount(this.dir, this.account);
    return { sheets, env: { GOOGLE_SHEET_ID: SHEET_ID, GOOGLE_CREDENTIALS_PATH: credentials, SHEETS_API_URL: sheets.url } };
  }

  /** A KEYS_FILE holding the one key; its usage goes to keys.usage.csv beside it. */
  keysFile(): { env: Record<string, string>; usagePath: string } {
    const path = join(this.dir, 'keys.csv');
    writeFileSync(path, `${KEY_HEADER.join(',')}\n${KEY},Faults,,,TRUE,${LIMIT}\n`, { mode: 0o600 });
    return { env: { KEYS_FILE: path }, usagePath: join(this.dir, 'keys.usage.csv') };
  }

  /** Spawns `server/main.ts` and waits until it has loaded its keys. */
  async gateway(env: Record<string, string>): Promise<{ gw: GatewayProcess; url: string; rss: PeakRss }> {
    const gw = spawnGateway({ LOG_LEVEL: 'info', ...env });
    running.add(gw);
    void gw.exited.then(() => running.delete(gw));
    this.closers.push(() => gw.stop('SIGKILL'));
    const url = await gw.listening;
    await keysLoaded(url, 20_000);
    return { gw, url, rss: new PeakRss(gw.child.pid!) };
  }

  async closeAll(): Promise<void> {
    for (const close of this.closers.reverse()) await close().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface StandInTally {
  prompt_tokens: number;
  completion_tokens: number;
  completedStreams: number;
  abortedStreams: number;
  opsCalls: number;
}

/** Peak RSS (VmHWM) of a process, polled so the last reading before it exits is kept. */
export class PeakRss {
  peakMb = 0;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly pid: number) {
    this.timer = setInterval(() => this.read(), 100);
    this.timer.unref();
    this.read();
  }

  /** VmRSS now, in MB (0 once the process is gone). */
  nowMb(): number {
    return kb(this.pid, 'VmRSS') / 1024;
  }

  read(): number {
    this.peakMb = Math.max(this.peakMb, kb(this.pid, 'VmHWM') / 1024);
    return this.peakMb;
  }

  stop(): number {
    clearInterval(this.timer);
    return this.read();
  }
}

function kb(pid: number, field: string): number {
  try {
    return Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

export interface UsageRead extends UsageTotals {
  rawRows: number;
  dedupRows: number;
}

/** Usage rows as any reader must count them: by header name, each (flush_id, key_id) once. */
export function readUsage(values: readonly (readonly Cell[])[] | undefined): UsageRead {
  const records = rowsAsRecords(values ?? []);
  const pairs = new Set(records.map((r) => (r.flush_id ? `${String(r.flush_id)}|${String(r.key_id)}` : Symbol())));
  return { ...grandTotal(records), rawRows: records.length, dedupRows: pairs.size };
}

/** keys.usage.csv parsed (its cells hold no commas: ids, numbers, ISO times, a plain client name). */
export function readUsageFile(path: string): UsageRead {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return readUsage([]);
  }
  return readUsage(text.trim().split('\n').filter(Boolean).map((l) => l.split(',')));
}

/** A stack trace in a log: a line of "at fn (file:line:col)", or a logged `stack` field. */
export function hasStackTrace(lines: readonly string[]): boolean {
  return lines.some((l) => /"stack"\s*:|\n\s+at .+:\d+:\d+|^\s+at .+:\d+:\d+/m.test(l));
}
