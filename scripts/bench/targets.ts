/**
 * The four things measured, each a server in its own child process, and one round of
 * measurements over them: every phase runs all targets back to back, so "added" compares
 * figures taken seconds apart.
 */
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { chatRequests, paced, probe, saturate, streaming, type PacedResult, type SaturationResult, type StreamResult } from './load.ts';
import { cpuMicros, ROOT } from './processes.ts';

/** Entry files, relative to the repository root (children run there). */
export const ENTRY = {
  standIn: 'scripts/bench/stand-in.ts',
  gateway: 'scripts/bench/gateway.ts',
  nodeProxy: 'scripts/node-proxy.ts',
  main: 'server/main.ts',
  built: 'dist/server/main.js',
};
const BUILD_TIMEOUT_MS = 120_000;

/**
 * The production entry, as the Dockerfile runs it (`node dist/server/main.js`): the repository's
 * dist/ when built after every server/ source changed, else compiled now with tsconfig.build.json
 * into `tempDir` (beside a package.json and a node_modules link, so imports resolve as in the image).
 */
export function builtMain(tempDir: string): { file: string | null; note: string } {
  const built = join(ROOT, ENTRY.built);
  if (existsSync(built)) {
    const builtAt = statSync(built).mtimeMs;
    const sources = readdirSync(join(ROOT, 'server'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    if (!sources.some((f) => statSync(join(ROOT, 'server', f)).mtimeMs > builtAt)) return { file: built, note: ENTRY.built };
  }
  const out = join(tempDir, 'build');
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(out, 'dist')], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: BUILD_TIMEOUT_MS,
  });
  const main = join(out, ENTRY.built);
  if (!existsSync(main)) return { file: null, note: `could not compile server/ (${(tsc.stdout + tsc.stderr).trim().split('\n')[0] ?? tsc.error?.message})` };
  writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
  symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'), 'dir');
  return { file: main, note: `server/ compiled to a temp dir with tsconfig.build.json${tsc.status === 0 ? '' : ' (tsc reported errors)'}` };
}

/** High enough never to trigger: the bench measures the limiter's cost, not its denials. */
export const HUGE_RATE_LIMIT = '1000000000';
export const ADMIN_KEY = `bench-admin-${randomBytes(12).toString('hex')}`;

/** The gateway's environment (children inherit nothing else from the caller's shell). */
export function gatewayEnv(keysFile: string, upstreamUrl: string, redisUrl = '', logLevel: 'info' | 'warn' = 'info'): Record<string, string> {
  return {
    KEYS_FILE: keysFile,
    UPSTREAM_URL: upstreamUrl,
    UPSTREAM_API_KEY: '',
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: logLevel,
    AUTH_ENABLED: 'true',
    AUTH_FALLBACK: 'closed',
    GOOGLE_SHEET_ID: '',
    RATE_LIMIT_DEFAULT: HUGE_RATE_LIMIT,
    API_KEY_CACHE_DURATION: '86400',
    USAGE_FLUSH_INTERVAL: '3600',
    REDIS_URL: redisUrl,
    ADMIN_API_KEY: ADMIN_KEY,
    SHUTDOWN_GRACE: '0',
  };
}

export interface Target {
  name: string;
  url: string;
  /** Processes whose CPU time counts as this target's (not the stand-in's). */
  pids: number[];
  /** The stand-in's process, whose CPU per request is reported apart. */
  upstreamPid?: number;
}

export interface Settings {
  quick: boolean;
  /** Phases to run: saturation, latency, streams, keys, coldstart (see bench.ts). */
  phases: Set<string>;
  rounds: number;
  connections: number;
  saturationSeconds: number;
  warmupSeconds: number;
  rate: number;
  fixedMs: number;
  /** Sequential streamed requests of the latency phase. */
  streams: number;
  /** The streams phase: concurrent streams per run, and chunks per stream. */
  streamConcurrencies: number[];
  streamChunks: number;
  keys: number | null;
  out: string;
  /** A checkout whose gateway is measured too, as target "baseline" (an A/B in one run). */
  baseline: string | null;
  /** Run the gateway and the yardstick under tsx rather than compiled (compiled.ts). */
  tsx: boolean;
}

export interface TargetRound {
  saturation?: SaturationResult & { cpuUsPerRequest: number | null; upstreamCpuUsPerRequest: number | null };
  fixed?: PacedResult;
  stream?: StreamResult;
}

export type Round = Record<string, TargetRound>;

/** Every target must answer a keyed request with 200 (and the gateways a bad key with 401). */
export async function checkTargets(targets: Target[], key: string): Promise<void> {
  const [good] = chatRequests([key]);
  const [bad] = chatRequests(['sk-convergence-not-a-key-00000000']);
  for (const t of targets) {
    const status = await probe(t.url, good!, 10_000);
    if (status !== 200) throw new Error(`${t.name} answered ${status} to a valid request (${t.url})`);
    if (t.name !== 'direct' && (await probe(t.url, bad!, 10_000)) !== 401) throw new Error(`${t.name} let an unknown key through`);
  }
}

function cpuTotal(pids: number[]): number | null {
  let sum = 0;
  for (const pid of pids) {
    const us = cpuMicros(pid);
    if (us === null) return null;
    sum += us;
  }
  return sum;
}

export async function saturateWithCpu(t: Target, keys: string[], s: Settings, seconds: number): Promise<NonNullable<TargetRound['saturation']>> {
  const up = t.upstreamPid === undefined ? [] : [t.upstreamPid];
  const [before, upBefore] = [cpuTotal(t.pids), cpuTotal(up)];
  const r = await saturate(t.url, chatRequests(keys), s.connections, seconds);
  const [after, upAfter] = [cpuTotal(t.pids), cpuTotal(up)];
  const per = (pids: number[], a: number | null, b: number | null): number | null => (pids.length > 0 && a !== null && b !== null && r.ok > 0 ? (b - a) / r.ok : null);
  return { ...r, cpuUsPerRequest: per(t.pids, before, after), upstreamCpuUsPerRequest: per(up, upBefore, upAfter) };
}

/** Rotates the order each round so no target always runs first (or just after a heavy one). */
export function rotated<T>(items: T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

export async function runRound(targets: Target[], keys: string[], s: Settings, index: number, say: (line: string) => void): Promise<Round> {
  const order = rotated(targets, index);
  const round: Round = Object.fromEntries(targets.map((t) => [t.name, {}]));
  if (s.phases.has('saturation')) {
    for (const t of order) {
      round[t.name]!.saturation = await saturateWithCpu(t, keys, s, s.saturationSeconds);
      say(`  saturation   ${t.name.padEnd(14)} ${round[t.name]!.saturation!.rps.toFixed(0)} req/s`);
    }
  }
  if (s.phases.has('latency')) {
    for (const t of order) {
      round[t.name]!.fixed = await paced(t.url, chatRequests(keys), s.rate, s.fixedMs);
      say(`  fixed rate   ${t.name.padEnd(14)} p50 ${round[t.name]!.fixed!.p50.toFixed(2)} ms, p99 ${round[t.name]!.fixed!.p99.toFixed(2)} ms`);
    }
    for (const t of order) {
      round[t.name]!.stream = await streaming(t.url, keys, s.streams);
      say(`  one stream   ${t.name.padEnd(14)} first chunk p50 ${round[t.name]!.stream!.firstChunk.p50.toFixed(2)} ms`);
    }
  }
  return round;
}

/** Spawn of `node --import tsx server/main.ts` to its first 200 answer, polled every 5 ms. */
export async function coldStart(
  spawnMain: (port: number) => { stop: () => Promise<void> },
  port: number,
  key: string,
  boundMs = 20_000,
): Promise<number> {
  const [req] = chatRequests([key]);
  const t0 = performance.now();
  const child = spawnMain(port);
  try {
    while (performance.now() - t0 < boundMs) {
      if ((await probe(`http://127.0.0.1:${port}`, req!, 2_000)) === 200) return performance.now() - t0;
      await new Promise((r) => setTimeout(r, 5));
    }
    return NaN;
  } finally {
    await child.stop();
  }
}
