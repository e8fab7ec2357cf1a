/**
 * `--phases profile`: the gateway (LOG_LEVEL=info, as users run it) and the yardstick, each under
 * V8's CPU profiler (what `node --cpu-prof` runs, started and stopped around the loaded window only) at saturation, and where their CPU went per request served: self time by
 * area (our server/ files by file, node_modules by package, Node's internals, GC) and the
 * inclusive time of the gateway's own middleware. The .cpuprofile files are kept for DevTools.
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { chatRequests, saturate } from './load.ts';
import type { PhaseModule } from './phase.ts';
import { startEntry } from './processes.ts';
import { STREAM_CHUNK_DELAY_MS } from './stream-phase.ts';
import { holdStreams } from './streams.ts';
import { table } from './report.ts';
import { ENTRY, gatewayEnv } from './targets.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Where a frame's code lives: `server/http/boundary.ts`, `pino`, `node:internal/...`, `(garbage collector)`. */
export function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1]!;
  const own = /\/((?:server|scripts)\/.+)$/.exec(url);
  if (own) return own[1]!.replace(/\.js$/, '.ts'); // compiled: named after its source
  if (url.startsWith('node:')) return url.replace(/^node:internal\/(.+?)(\/[^/]+)?$/, 'node:internal/$1');
  return url;
}

/** A frame's area; native code (no URL) counts for the nearest JS caller, as `<area> (native)`. */
function selfArea(node: ProfileNode, byId: Map<number, ProfileNode>, parent: Map<number, number>): string {
  const { url, functionName } = node.callFrame;
  if (url || functionName.startsWith('(')) return areaOf(url, functionName);
  for (let id = parent.get(node.id); id !== undefined; id = parent.get(id)) {
    const f = byId.get(id)!.callFrame;
    if (f.url) return `${areaOf(f.url, f.functionName)} (native)`;
  }
  return '(native)';
}

export interface ProfileSummary {
  totalMs: number;
  /** Self time by area, ms, largest first. */
  byArea: Array<[string, number]>;
  /** Inclusive time of named functions (each sample counted once per function), ms. */
  inclusive: Array<[string, number]>;
}

/**
 * Self time by area and inclusive time by function. A sample's time is the delta to the next
 * sample (the last sample gets the mean), so idle gaps land on `(idle)` where V8 put them.
 */
export function summariseProfile(p: CpuProfile, functions: (name: string, area: string) => boolean = () => false): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const mean = p.samples.length > 0 ? (p.endTime - p.startTime) / p.samples.length : 0;
  const area = new Map<string, number>();
  const incl = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i += 1) {
    const us = i + 1 < p.timeDeltas.length ? p.timeDeltas[i + 1]! : mean;
    total += us;
    const node = byId.get(p.samples[i]!);
    if (!node) continue;
    const a = selfArea(node, byId, parent);
    area.set(a, (area.get(a) ?? 0) + us);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      const fa = areaOf(f.url, f.functionName);
      const key = `${f.functionName || '(anonymous)'} ${fa}`;
      if (seen.has(key) || !functions(f.functionName, fa)) continue;
      seen.add(key);
      incl.set(key, (incl.get(key) ?? 0) + us);
    }
  }
  const ms = (m: Map<string, number>): Array<[string, number]> => [...m.entries()].map(([k, v]): [string, number] => [k, v / 1000]).sort((a, b) => b[1] - a[1]);
  return { totalMs: total / 1000, byArea: ms(area), inclusive: ms(incl) };
}

/** The gateway's own functions and the libraries it calls per request, for inclusive times. */
const WATCHED = (name: string, area: string): boolean =>
  (area.startsWith('server/') && /Middleware$|^(observe|forward|add|verifyKey|upstreamRequestHeaders|clientResponseHeaders|planRequest|planCompletion|chunk|end|presentedKey|encodeClientName)$/.test(name)) ||
  (area === 'pino' && /^(LOG|write|asJson)$/.test(name)) ||
  (area === 'server/usage/taps.ts' || area === 'server/usage/extract.ts') ||
  (area === 'koa' && /^(handleRequest|respond|createContext)$/.test(name)) ||
  (area === 'prom-client' && /^(observe|inc)$/.test(name));

const PROFILE_SECONDS = 10;
const PROFILE_STREAMS = 300;
const TOP_AREAS = 25;

/** A load run against a URL; resolves with the units served (requests, or chunks). */
type Load = (url: string) => Promise<number>;

async function profileOne(label: string, entry: string, env: Record<string, string>, dir: string, warm: Load, load: Load): Promise<{ summary: ProfileSummary; requests: number; file: string }> {
  const out = join(dir, 'profiles');
  mkdirSync(out, { recursive: true });
  const file = join(out, `${label}.cpuprofile`);
  const child = await startEntry(entry, { ...env, BENCH_PROFILE_FILE: file });
  try {
    await warm(child.url);
    await child.ask('profile-start');
    const units = await load(child.url);
    await child.ask('profile-stop', 60_000);
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    return { summary: summariseProfile(profile, WATCHED), requests: units, file };
  } finally {
    await child.stop();
  }
}

function comparison(title: string, unit: string, gw: { summary: ProfileSummary; requests: number }, ys: { summary: ProfileSummary; requests: number }): string {
  const per = (ms: number, n: number): string => ((ms * 1000) / n).toFixed(1);
  const areas = [...new Set([...gw.summary.byArea.slice(0, TOP_AREAS), ...ys.summary.byArea.slice(0, 10)].map(([a]) => a))];
  const get = (s: ProfileSummary, a: string): number => s.byArea.find(([k]) => k === a)?.[1] ?? 0;
  const busy = (s: ProfileSummary): number => s.totalMs - get(s, '(idle)');
  const areaTable = table(
    ['self time by area', `gateway us/${unit}`, `yardstick us/${unit}`],
    [
      ['all but (idle)', per(busy(gw.summary), gw.requests), per(busy(ys.summary), ys.requests)],
      ...areas.map((a) => [a, per(get(gw.summary, a), gw.requests), per(get(ys.summary, a), ys.requests)]),
    ],
  );
  const inclTable = table([`gateway function (inclusive)`, `us/${unit}`], gw.summary.inclusive.slice(0, 20).map(([k, v]) => [k, per(v, gw.requests)]));
  return [`${title}: gateway ${gw.requests} ${unit}s, yardstick ${ys.requests}`, areaTable, '', inclTable].join('\n');
}

export const profilePhase: PhaseModule = {
  name: 'profile',
  describe: `gateway (info) and yardstick under V8's CPU profiler: at saturation (per request) and with ${PROFILE_STREAMS} streams (per chunk)`,
  async run(ctx) {
    const s = ctx.settings;
    const seconds = s.quick ? 4 : PROFILE_SECONDS;
    const keys = ctx.keys.sample;
    const gwEnv = (upstream: string) => gatewayEnv(ctx.keys.path, upstream, '', 'info');
    const ysEnv = (upstream: string) => ({ KEYS_FILE: ctx.keys.path, UPSTREAM_URL: upstream, PORT: '0' });
    const warmJson: Load = async (url) => (await saturate(url, chatRequests(keys), s.connections, 2)).ok;
    const json: Load = async (url) => (await saturate(url, chatRequests(keys), s.connections, seconds)).ok;
    const sat = {
      gateway: await profileOne('gateway-saturation', ENTRY.gateway, gwEnv(ctx.standIn.url), ctx.dir, warmJson, json),
      yardstick: await profileOne('yardstick-saturation', ENTRY.nodeProxy, ysEnv(ctx.standIn.url), ctx.dir, warmJson, json),
    };
    // Streams need the 20 ms stand-in: a server of the phase's own.
    const slow = await startEntry(ENTRY.standIn, { CHUNK_DELAY_MS: String(STREAM_CHUNK_DELAY_MS) });
    const streamLoad = (chunks: number): Load => async (url) => (await holdStreams(url, keys, { streams: PROFILE_STREAMS, chunks, timeoutMs: 120_000 })).events;
    let streams;
    try {
      streams = {
        gateway: await profileOne('gateway-streams', ENTRY.gateway, gwEnv(slow.url), ctx.dir, streamLoad(20), streamLoad(s.streamChunks)),
        yardstick: await profileOne('yardstick-streams', ENTRY.nodeProxy, ysEnv(slow.url), ctx.dir, streamLoad(20), streamLoad(s.streamChunks)),
      };
    } finally {
      await slow.stop();
    }
    const kept: Record<string, string> = {};
    mkdirSync(dirname(s.out), { recursive: true });
    for (const [load, pair] of [['saturation', sat], ['streams', streams]] as const) {
      for (const [label, p] of Object.entries(pair)) {
        kept[`${label}-${load}`] = join(dirname(s.out), `bench-${label}-${load}.cpuprofile`);
        copyFileSync(p.file, kept[`${label}-${load}`]!);
      }
    }
    const text = [
      comparison(`Profile at saturation (${s.connections} connections, ${seconds} s)`, 'req', sat.gateway, sat.yardstick),
      '',
      comparison(`Profile with ${PROFILE_STREAMS} streams of ${s.streamChunks} chunks, ${STREAM_CHUNK_DELAY_MS} ms apart`, 'chunk', streams.gateway, streams.yardstick),
      '',
      `profiles (open in Chrome DevTools or speedscope): ${Object.values(kept).join(', ')}`,
    ].join('\n');
    const result = Object.fromEntries(
      Object.entries({ saturation: sat, streams }).map(([load, pair]) => [load, Object.fromEntries(Object.entries(pair).map(([k, v]) => [k, { units: v.requests, ...v.summary, file: kept[`${k}-${load}`] }]))]),
    );
    return { checks: [], text, result };
  },
};
