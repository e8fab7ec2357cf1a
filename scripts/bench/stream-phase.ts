/**
 * `--phases streams`: 300 and 1,000 concurrent streams of 100 chunks at 50 tokens/s (the stand-in
 * waits 20 ms between chunks), against the stand-in directly, the yardstick and the gateway, in
 * interleaved rounds after a warm-up. Servers of their own, pointed at a 20 ms stand-in, so the
 * other phases' servers stay as they were.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { usageFileFor } from '../../server/usage/columns.ts';
import { cpuMicros, ForeignCpu, memoryMb, startEntry, type ServerChild } from './processes.ts';
import type { PhaseModule } from './phase.ts';
import { streamChecks, table } from './report.ts';
import { formatSpread, spread, type Spread } from './stats.ts';
import { holdStreams, type StreamLoadResult } from './streams.ts';
import { ENTRY, gatewayEnv, rotated } from './targets.ts';

export interface StreamSettings {
  concurrencies: number[];
  chunks: number;
  chunkDelayMs: number;
  rounds: number;
  quick: boolean;
}

interface StreamTarget {
  name: string;
  url: string;
  /** The proxy's process (null: the stand-in itself). */
  proxy: ServerChild | null;
  /** A gateway: it meters usage, read back through its usage file. */
  meters: boolean;
  /** RSS of the proxy after start and one request, before any stream (the per-stream baseline). */
  idleRssMb?: number;
}

export interface StreamRun extends StreamLoadResult {
  /** Proxy CPU time (user + system) per content chunk delivered, µs; null for direct. */
  cpuUsPerChunk: number | null;
  standInCpuUsPerChunk: number;
  /** CPU time of proxy + stand-in over the run's wall time: near 1, the shared core was the limit. */
  serverCoreBusy: number;
  /** The load generator's CPU time over the run's wall time: near 1, the client was the limit. */
  clientCoreBusy: number;
  /** (peak RSS during the run - RSS of the idle process before any stream) / streams, KB; null for direct. */
  rssKbPerStream: number | null;
  tokensGenerated: number;
  tokensMetered: number | null;
  foreignCpuShare: number;
}

/** Figures of one target at one concurrency: the runs, and median [min–max] of each figure. */
export interface StreamSummary {
  target: string;
  streams: number;
  runs: StreamRun[];
  figures: Record<string, Spread>;
  failed: number;
  tokensGenerated: number;
  tokensMetered: number | null;
}

/** Sums a usage CSV's `completion_tokens` (columns found by header name, as readers must). */
export function usageCompletionTokens(csv: string): number {
  const lines = csv.replace(/^\uFEFF/, '').split(/\r?\n/).filter(Boolean);
  if (lines.length === 0) return 0;
  const col = lines[0]!.split(',').indexOf('completion_tokens');
  if (col === -1) throw new Error('usage file has no completion_tokens column');
  let sum = 0;
  for (const line of lines.slice(1)) sum += Number(line.split(',')[col] ?? 0) || 0;
  return sum;
}

async function meteredSoFar(gateway: ServerChild, usageFile: string): Promise<number> {
  const reply = (await gateway.ask('flush')) as { flushed: boolean | null };
  if (reply.flushed !== true) throw new Error(`the gateway could not flush its usage (${JSON.stringify(reply)})`);
  try {
    return usageCompletionTokens(readFileSync(usageFile, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

const standInTokens = async (standIn: ServerChild): Promise<number> => ((await standIn.ask('stats')) as { tokensSent: number }).tokensSent;
const RSS_SAMPLE_MS = 50;
/** 50 tokens a second per sequence, as an H200 serves them. */
export const STREAM_CHUNK_DELAY_MS = 20;
/** Time for the gateway to count a stream after its client saw the end. */
const SETTLE_MS = 200;

async function measure(t: StreamTarget, standIn: ServerChild, keys: readonly string[], streams: number, s: StreamSettings, usageFile: string): Promise<StreamRun> {
  const pid = t.proxy?.pid ?? null;
  const client = process.cpuUsage();
  const meteredBefore = t.meters ? await meteredSoFar(t.proxy!, usageFile) : null;
  const generatedBefore = await standInTokens(standIn);
  const rssBefore = pid === null ? NaN : memoryMb(pid)?.rss ?? NaN;
  let rssPeak = rssBefore;
  const sampler = pid === null ? null : setInterval(() => {
    rssPeak = Math.max(rssPeak, memoryMb(pid)?.rss ?? NaN);
  }, RSS_SAMPLE_MS);
  const cpuBefore = pid === null ? null : cpuMicros(pid);
  const standInBefore = cpuMicros(standIn.pid) ?? NaN;
  const watch = new ForeignCpu().start();
  const t0 = performance.now();
  const r = await holdStreams(t.url, keys, { streams, chunks: s.chunks, timeoutMs: s.chunks * s.chunkDelayMs + 60_000 });
  const wallMs = performance.now() - t0;
  const clientUsed = process.cpuUsage(client);
  const foreignCpuShare = watch.share();
  if (sampler) clearInterval(sampler);
  const cpuAfter = pid === null ? null : cpuMicros(pid);
  const standInCpu = (cpuMicros(standIn.pid) ?? NaN) - standInBefore;
  await new Promise((done) => setTimeout(done, SETTLE_MS));
  const generated = (await standInTokens(standIn)) - generatedBefore;
  const metered = meteredBefore === null ? null : (await meteredSoFar(t.proxy!, usageFile)) - meteredBefore;
  const proxyCpu = cpuBefore !== null && cpuAfter !== null ? cpuAfter - cpuBefore : null;
  return {
    ...r,
    cpuUsPerChunk: proxyCpu === null || r.events === 0 ? null : proxyCpu / r.events,
    standInCpuUsPerChunk: r.events > 0 ? standInCpu / r.events : NaN,
    serverCoreBusy: ((proxyCpu ?? 0) + standInCpu) / 1000 / wallMs,
    clientCoreBusy: (clientUsed.user + clientUsed.system) / 1000 / wallMs,
    rssKbPerStream: pid === null ? null : ((rssPeak - (t.idleRssMb ?? rssBefore)) * 1024) / streams,
    tokensGenerated: generated,
    tokensMetered: metered,
    foreignCpuShare,
  };
}

/** The figures reported per target and concurrency, each a median [min–max] over rounds. */
export const STREAM_FIGURES: Array<[string, (r: StreamRun) => number]> = [
  ['chunks/s', (r) => r.chunksPerSecond],
  ['gap p50 ms', (r) => r.gap.p50],
  ['gap p99 ms', (r) => r.gap.p99],
  ['gap max ms', (r) => r.gap.max],
  ['1st chunk p50 ms', (r) => r.firstChunk.p50],
  ['1st chunk p99 ms', (r) => r.firstChunk.p99],
  ['cpu us/chunk', (r) => r.cpuUsPerChunk ?? NaN],
  ['stand-in us/chunk', (r) => r.standInCpuUsPerChunk],
  ['server core busy', (r) => r.serverCoreBusy],
  ['client core busy', (r) => r.clientCoreBusy],
  ['rss KB/stream', (r) => r.rssKbPerStream ?? NaN],
];

export function summariseStreams(target: string, streams: number, runs: StreamRun[]): StreamSummary {
  const figures = Object.fromEntries(STREAM_FIGURES.map(([name, f]) => [name, spread(runs.map(f))]));
  const metered = runs.map((r) => r.tokensMetered);
  return {
    target,
    streams,
    runs,
    figures,
    failed: runs.reduce((a, r) => a + r.failed, 0),
    tokensGenerated: runs.reduce((a, r) => a + r.tokensGenerated, 0),
    tokensMetered: metered.some((m) => m === null) ? null : metered.reduce((a: number, m) => a + m!, 0),
  };
}

export interface StreamPhase {
  summaries: StreamSummary[];
  text: string;
}

/** Starts the phase's servers, warms them, runs the rounds, stops the servers. */
export async function runStreamPhase(keysFile: string, keys: readonly string[], s: StreamSettings, say: (line: string) => void): Promise<StreamPhase> {
  const standIn = await startEntry(ENTRY.standIn, { CHUNK_DELAY_MS: String(s.chunkDelayMs) });
  const [yardstick, gateway] = await Promise.all([
    startEntry(ENTRY.nodeProxy, { KEYS_FILE: keysFile, UPSTREAM_URL: standIn.url, PORT: '0' }),
    startEntry(ENTRY.gateway, gatewayEnv(keysFile, standIn.url, '', 'info')),
  ]);
  const usageFile = usageFileFor(keysFile);
  const targets: StreamTarget[] = [
    { name: 'direct', url: standIn.url, proxy: null, meters: false },
    { name: 'yardstick', url: yardstick.url, proxy: yardstick, meters: false },
    { name: 'gateway', url: gateway.url, proxy: gateway, meters: true },
  ];
  try {
    for (const t of targets) {
      if (!t.proxy) continue;
      await holdStreams(t.url, keys, { streams: 1, chunks: 1, timeoutMs: 10_000 });
      t.idleRssMb = memoryMb(t.proxy.pid)?.rss;
    }
    say(`streams: warming up (${Math.max(...s.concurrencies)} streams of 20 chunks per target)`);
    for (const t of targets) await holdStreams(t.url, keys, { streams: Math.max(...s.concurrencies), chunks: 20, timeoutMs: 60_000 });
    const runs = new Map<string, StreamRun[]>();
    for (let i = 0; i < s.rounds; i += 1) {
      for (const n of s.concurrencies) {
        for (const t of rotated(targets, i)) {
          const r = await measure(t, standIn, keys, n, s, usageFile);
          const k = `${t.name}\u0000${n}`;
          runs.set(k, [...(runs.get(k) ?? []), r]);
          say(`  streams round ${i + 1}/${s.rounds} ${String(n).padStart(5)} x ${t.name.padEnd(10)} ${r.chunksPerSecond.toFixed(0)} chunks/s, gap p99 ${r.gap.p99.toFixed(1)} ms, 1st p50 ${r.firstChunk.p50.toFixed(0)} ms, ${r.failed} failed${r.foreignCpuShare > 0.05 ? `, others used ${(r.foreignCpuShare * 100).toFixed(0)}% CPU` : ''}`);
        }
      }
    }
    const summaries = [...runs.entries()].map(([k, v]) => {
      const [name, n] = k.split('\u0000');
      return summariseStreams(name!, Number(n), v);
    });
    return { summaries, text: streamTable(summaries, s) };
  } finally {
    await Promise.all([standIn.stop(), yardstick.stop(), gateway.stop()]);
  }
}

export function streamTable(summaries: StreamSummary[], s: StreamSettings): string {
  const digits = (name: string): number => (name.endsWith('core busy') ? 2 : name.includes('chunks/s') || name.includes('KB') ? 0 : 1);
  const rows = summaries.map((x) => [
    `${x.streams} ${x.target}`,
    ...STREAM_FIGURES.map(([name]) => formatSpread(x.figures[name]!, digits(name))),
    String(x.failed),
    x.tokensMetered === null ? `- / ${x.tokensGenerated}` : `${x.tokensMetered} / ${x.tokensGenerated}`,
  ]);
  return `Streams: ${s.chunks} chunks each, ${s.chunkDelayMs} ms apart, all opened at once; median [min-max] of ${s.rounds} rounds\n${table(
    ['streams target', ...STREAM_FIGURES.map(([n]) => n), 'failed', 'metered / generated'],
    rows,
  )}`;
}

export const streamsPhase: PhaseModule = {
  name: 'streams',
  describe: 'concurrent SSE streams (--streams 300,1000 x --chunks 100 at 20 ms): gaps, first chunk, CPU and RSS per stream, metering',
  async run(ctx) {
    const s = ctx.settings;
    const phase = await runStreamPhase(ctx.keys.path, ctx.keys.sample, { concurrencies: s.streamConcurrencies, chunks: s.streamChunks, chunkDelayMs: STREAM_CHUNK_DELAY_MS, rounds: s.rounds, quick: s.quick }, ctx.say);
    return { checks: streamChecks(phase.summaries), text: phase.text, result: phase.summaries };
  },
};
