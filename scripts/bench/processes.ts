/**
 * Child processes for the benchmark: each server in its own process, pinned to CPU 1 when
 * `taskset` exists (the load generator pins itself to CPU 0), all killed on exit or Ctrl-C.
 */
import { freePort, launchRedis, requireRedisServer } from '../redis-server.ts';
export { freePort };
import { compiledEntry } from './compiled.ts';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { takeReplies } from './control.ts';

/** The repository root: children run there, so `--import tsx` and relative paths resolve. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The only variables servers inherit: the caller's shell must not configure what is measured. */
const INHERITED_ENV = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'LC_ALL'];

/** How long a child may take to print its URL (tsx transpiles on first start). */
const START_TIMEOUT_MS = 30_000;
/** Lines of a child's stderr kept to explain a failure. */
const STDERR_TAIL_CHARS = 4_000;

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
const stopping = new WeakSet<ChildProcess>();
/** Servers that died while the bench still needed them: reported at the end. */
export const unexpectedExits: string[] = [];

export interface Pinning {
  pinned: boolean;
  note: string;
}

/** Pins this process (all threads) to CPU 0 and decides whether servers go to CPU 1. */
export function pinSelf(): Pinning {
  if (cpus().length < 2) return { pinned: false, note: 'not pinned: fewer than 2 CPUs' };
  if (spawnSync('taskset', ['--version']).error) return { pinned: false, note: 'not pinned: taskset not found' };
  const r = spawnSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)]);
  if (r.status !== 0) return { pinned: false, note: `not pinned: taskset failed (${r.stderr.toString().trim()})` };
  return { pinned: true, note: 'pinned: load generator on CPU 0, servers (stand-in, proxies, Redis) on CPU 1' };
}

let pinning: Pinning = { pinned: false, note: 'not pinned' };
export function setPinning(p: Pinning): void {
  pinning = p;
}

/** Spawns a command, on CPU 1 when pinning is on; the child is killed when the bench exits. */
export function spawnTracked(command: string, args: string[], env: Record<string, string>): ChildProcess {
  const [cmd, argv] = pinning.pinned ? ['taskset', ['-c', '1', command, ...args]] : [command, args];
  const base = Object.fromEntries(INHERITED_ENV.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]!]));
  // stdin is the control channel (control.ts); a child that never reads it is unaffected.
  const child = spawn(cmd, argv, { cwd: ROOT, env: { ...base, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin!.on('error', () => undefined);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export interface ServerChild {
  child: ChildProcess;
  pid: number;
  url: string;
  /** The JSON line the entry printed (url plus anything else it reports). */
  info: Record<string, unknown>;
  stderrTail(): string;
  /** Log lines at warn or above seen on stdout after the URL line (the last few). */
  logWarnings(): string[];
  /** Sends a command on the control channel and resolves with the child's reply value. */
  ask(command: string, timeoutMs?: number): Promise<unknown>;
  stop(): Promise<void>;
}

/** pino's numeric levels for warn, error and fatal, as they appear in a JSON log line. */
const WARN_MARKS = ['"level":40', '"level":50', '"level":60'];
const KEPT_WARNINGS = 10;

/** The lines of a log chunk at warn or above; cheap when there are none (a native byte search). */
export function warningLines(chunk: Buffer): string[] {
  if (!WARN_MARKS.some((m) => chunk.includes(m))) return [];
  return chunk.toString('utf8').split('\n').filter((l) => WARN_MARKS.some((m) => l.includes(m)));
}

/**
 * Starts an entry and waits for the JSON line with its `url` on stdout: its tsc output when
 * compiled (compiled.ts), else the TypeScript under tsx.
 */
export function startEntry(file: string, env: Record<string, string>, nodeArgs: string[] = []): Promise<ServerChild> {
  const js = compiledEntry(file);
  const child = spawnTracked(process.execPath, js ? [...nodeArgs, js] : [...nodeArgs, '--import', 'tsx', file], env);
  let err = '';
  let pending = '';
  const waiting = new Map<string, Array<(value: unknown) => void>>();
  child.stderr!.on('data', (c: Buffer) => {
    const { replies, rest } = takeReplies(pending + c.toString());
    pending = rest.endsWith('\n') ? '' : rest.slice(rest.lastIndexOf('\n') + 1);
    err = (err + rest.slice(0, rest.length - pending.length)).slice(-STDERR_TAIL_CHARS);
    for (const r of replies) waiting.get(r.reply)?.shift()?.(r.value);
  });
  const warnings: string[] = [];
  const ask = (command: string, timeoutMs = 10_000): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${file}: no reply to ${command} within ${timeoutMs} ms`)), timeoutMs);
      const list = waiting.get(command) ?? [];
      list.push((v) => {
        clearTimeout(timer);
        resolve(v);
      });
      waiting.set(command, list);
      child.stdin!.write(`${command}\n`);
    });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`${file} printed no URL within ${START_TIMEOUT_MS} ms\n${err}`)), START_TIMEOUT_MS);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(e);
    };
    child.once('error', (e) => fail(new Error(`cannot start ${file}: ${e.message}`)));
    const early = (code: number | null): void => fail(new Error(`${file} exited with ${code} before printing its URL\n${err}`));
    child.once('exit', early);
    let done = false;
    child.stdout!.on('data', (c: Buffer) => {
      if (done) {
        // The gateway's log, drained as a log collector would; only warnings are kept.
        for (const line of warningLines(c)) warnings.push(line.slice(0, 500));
        if (warnings.length > KEPT_WARNINGS) warnings.splice(0, warnings.length - KEPT_WARNINGS);
        return;
      }
      out += c.toString();
      // The first line that is a JSON object with a url; other lines (e.g. --trace-gc) are skipped.
      const line = out.split('\n').slice(0, -1).find((l) => l.startsWith('{"url"'));
      if (line === undefined) return;
      done = true;
      clearTimeout(timer);
      child.off('exit', early);
      const info = JSON.parse(line) as Record<string, unknown>;
      child.once('exit', (code, signal) => {
        if (!stopping.has(child)) unexpectedExits.push(`${file} (pid ${child.pid}) exited with ${code ?? signal} during the bench\n${err}`);
      });
      resolve({ child, pid: child.pid!, url: String(info.url), info, stderrTail: () => err, logWarnings: () => [...warnings], ask, stop: () => stopChild(child) });
    });
  });
}

export function stopChild(child: ChildProcess): Promise<void> {
  stopping.add(child);
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const hard = setTimeout(() => child.kill('SIGKILL'), 2_000);
    child.once('exit', () => {
      clearTimeout(hard);
      resolve();
    });
    child.kill('SIGTERM');
  });
}


/** A throwaway redis-server on a free loopback port, pinned and tracked like the other servers. */
export async function startRedis(): Promise<{ url: string; pid: number }> {
  requireRedisServer('the "gateway + Redis" target needs it');
  const port = await freePort();
  const child = await launchRedis(port, (command, args) => spawnTracked(command, args, {}));
  return { url: `redis://127.0.0.1:${port}`, pid: child.pid! };
}

export function makeTempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'convergence-bench-'));
  tempDirs.add(dir);
  return dir;
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** User + system CPU time of a process in microseconds, or null off Linux. */
export function cpuMicros(pid: number): number | null {
  try {
    // utime and stime are fields 14 and 15 of /proc/<pid>/stat.
    return (jiffiesOf(readFileSync(`/proc/${pid}/stat`, 'utf8'), 14, 2) * 1e6) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

function jiffiesOf(statLine: string, from: number, count: number): number {
  const fields = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ');
  let sum = 0;
  for (let i = 0; i < count; i += 1) sum += Number(fields[from - 3 + i]);
  return sum;
}

/**
 * CPU used by other processes on this machine since `start()`, as a share of all CPUs: other
 * sessions' tests running alongside make the figures noisy, and the report says so.
 */
export class ForeignCpu {
  private at: { busy: number; total: number; own: number } | null = null;

  start(): this {
    this.at = this.sample();
    return this;
  }

  /** Share of all CPU time (0..1) used by processes that are not the bench's; NaN off Linux. */
  share(): number {
    const now = this.sample();
    if (!this.at || !now) return NaN;
    const total = now.total - this.at.total;
    return total > 0 ? Math.max(0, (now.busy - this.at.busy - (now.own - this.at.own)) / total) : NaN;
  }

  private sample(): { busy: number; total: number; own: number } | null {
    try {
      const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
      const [user, nice, system, idle, iowait, irq, softirq, steal] = cpu as [number, number, number, number, number, number, number, number];
      // Self plus reaped children (utime, stime, cutime, cstime), plus the children still running.
      let own = jiffiesOf(readFileSync('/proc/self/stat', 'utf8'), 14, 4);
      for (const child of children) {
        try {
          own += jiffiesOf(readFileSync(`/proc/${child.pid}/stat`, 'utf8'), 14, 2);
        } catch {
          // exited between the listing and the read
        }
      }
      return { busy: user + nice + system + irq + softirq + steal, total: user + nice + system + idle + iowait + irq + softirq + steal, own };
    } catch {
      return null;
    }
  }
}

/** VmRSS and VmHWM (peak) of a process in MB, or null off Linux. */
export function memoryMb(pid: number): { rss: number; peak: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
  } catch {
    return null;
  }
}

/** Kills every child and removes temp files; synchronous so it also runs from 'exit'. */
export function cleanupSync(): void {
  for (const child of children) {
    stopping.add(child);
    child.kill('SIGKILL');
  }
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

let installed = false;
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping servers\n`);
      cleanupSync();
      process.exit(130);
    });
  }
}
