/**
 * The several-upstreams phase: the gateway with one upstream and with two (the same stand-in
 * processes), in interleaved rounds of closed-loop saturation. Reports req/s, the gateway's CPU
 * per request, and the routing cost per request (two upstreams minus one, in the same round).
 * A third gateway lists two upstreams of which the second is down (a closed port), so the same
 * single stand-in answers: its cost over one upstream is the router's alone.
 * With `baseline` (a git ref), a gateway built from that ref's server/ runs beside them, so the
 * one-upstream path is compared with the code before the change in the same run.
 *
 * Alone: node --import tsx scripts/bench/upstreams.ts [--rounds 3] [--duration 5] [--baseline REF]
 * From scripts/bench.ts: `await runUpstreams(s, dir, keys, say, { standInUrl, baseline })`.
 */
import type { PhaseModule } from './phase.ts';
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { writeKeyFile, type KeyFile } from './keyfile.ts';
import { chatRequests, saturate } from './load.ts';
import { cpuMicros, ForeignCpu, installCleanup, makeTempDir, pinSelf, ROOT, setPinning, startEntry, type ServerChild } from './processes.ts';
import { check, table, type Check } from './report.ts';
import { median } from './stats.ts';
import { ENTRY, gatewayEnv, rotated, type Settings } from './targets.ts';

/** What the phase needs of the bench settings. */
export type UpstreamsSettings = Pick<Settings, 'rounds' | 'connections' | 'saturationSeconds' | 'warmupSeconds'>;

interface Figure {
  rps: number;
  cpuUsPerRequest: number;
  failed: number;
}

export interface UpstreamsResult {
  rounds: Array<Record<string, Figure>>;
  rps: Record<string, number>;
  cpuUsPerRequest: Record<string, number>;
  /** Median per-round ratio of two-upstream to one-upstream req/s. */
  twoOverOne: number;
  /** Median per-round ratio of one-upstream req/s to the baseline ref's (null without a baseline). */
  oneOverBaseline: number | null;
  /** Gateway CPU per request with two upstreams minus with one, median of per-round differences. */
  routingCostUs: number;
  /**
   * The same with the second upstream down, so one stand-in answers everything as with one
   * upstream: the router's own cost, without two stand-in processes sharing the servers' CPU.
   */
  routingCostOneAnsweringUs: number;
  foreignCpuShare: number;
}

const ONE = 'one upstream';
const TWO = 'two upstreams';
const BASELINE = 'one upstream (baseline)';
/** Routed like TWO, but the second upstream is down: one stand-in answers, as with ONE. */
const ROUTED = 'two, second down';
/** A port nothing listens on (connections refused): the down upstream. */
const DOWN_URL = 'http://127.0.0.1:1';

/** The gateway of `ref` (its server/ and bench entry), extracted beside a node_modules link. */
function baselineEntry(dir: string, ref: string): string {
  const out = join(dir, 'baseline');
  mkdirSync(out, { recursive: true });
  const archive = spawnSync('git', ['archive', '--format=tar', ref, 'server', ENTRY.gateway], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
  if (archive.status !== 0) throw new Error(`git archive ${ref} failed: ${archive.stderr.toString().trim()}`);
  const tar = spawnSync('tar', ['-x', '-C', out], { input: archive.stdout });
  if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr.toString().trim()}`);
  writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
  symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'), 'dir');
  return join(out, ENTRY.gateway);
}

async function measure(g: ServerChild, keys: string[], s: UpstreamsSettings): Promise<Figure> {
  const before = cpuMicros(g.pid);
  const r = await saturate(g.url, chatRequests(keys), s.connections, s.saturationSeconds);
  const after = cpuMicros(g.pid);
  return { rps: r.rps, cpuUsPerRequest: before !== null && after !== null && r.ok > 0 ? (after - before) / r.ok : NaN, failed: r.non2xx + r.errors };
}

export async function runUpstreams(
  s: UpstreamsSettings,
  dir: string,
  keys: Pick<KeyFile, 'path' | 'sample'>,
  say: (line: string) => void,
  opts: { standInUrl?: string; baseline?: string } = {},
): Promise<{ result: UpstreamsResult; checks: Check[]; text: string }> {
  const watch = new ForeignCpu().start();
  const own: ServerChild[] = [];
  const standIn = async (): Promise<string> => {
    const child = await startEntry(ENTRY.standIn, { CHUNK_DELAY_MS: '1' });
    own.push(child);
    return child.url;
  };
  const first = opts.standInUrl ?? (await standIn());
  const second = await standIn();
  const gateways: Array<[string, ServerChild]> = [
    [ONE, await startEntry(ENTRY.gateway, gatewayEnv(keys.path, first))],
    [TWO, await startEntry(ENTRY.gateway, gatewayEnv(keys.path, `${first},${second}`))],
    [ROUTED, await startEntry(ENTRY.gateway, gatewayEnv(keys.path, `${first},${DOWN_URL}`))],
  ];
  if (opts.baseline) gateways.push([BASELINE, await startEntry(baselineEntry(dir, opts.baseline), gatewayEnv(keys.path, first))]);

  say(`upstreams: warming up ${gateways.length} gateways`);
  for (const [, g] of gateways) await saturate(g.url, chatRequests(keys.sample), s.connections, s.warmupSeconds);
  const rounds: UpstreamsResult['rounds'] = [];
  for (let i = 0; i < s.rounds; i += 1) {
    const round: Record<string, Figure> = {};
    for (const [name, g] of rotated(gateways, i)) {
      round[name] = await measure(g, keys.sample, s);
      say(`  upstreams round ${i + 1}/${s.rounds}  ${name.padEnd(24)} ${round[name]!.rps.toFixed(0)} req/s, ${round[name]!.cpuUsPerRequest.toFixed(0)} us/req`);
    }
    rounds.push(round);
  }
  for (const child of [...gateways.map(([, g]) => g), ...own]) await child.stop();

  const names = gateways.map(([n]) => n);
  const per = (f: (r: Record<string, Figure>) => number): number => median(rounds.map(f));
  const result: UpstreamsResult = {
    rounds,
    rps: Object.fromEntries(names.map((n) => [n, per((r) => r[n]!.rps)])),
    cpuUsPerRequest: Object.fromEntries(names.map((n) => [n, per((r) => r[n]!.cpuUsPerRequest)])),
    twoOverOne: per((r) => r[TWO]!.rps / r[ONE]!.rps),
    oneOverBaseline: opts.baseline ? per((r) => r[ONE]!.rps / r[BASELINE]!.rps) : null,
    routingCostUs: per((r) => r[TWO]!.cpuUsPerRequest - r[ONE]!.cpuUsPerRequest),
    routingCostOneAnsweringUs: per((r) => r[ROUTED]!.cpuUsPerRequest - r[ONE]!.cpuUsPerRequest),
    foreignCpuShare: watch.share(),
  };
  const failed = rounds.reduce((acc, r) => acc + names.reduce((a, n) => a + r[n]!.failed, 0), 0);
  const checks: Check[] = [check('upstreams: failed requests', failed, '', '<=', 0)];
  if (result.oneOverBaseline !== null) checks.push(check('upstreams: one upstream / baseline ref (req/s)', result.oneOverBaseline, '', '>=', 0.97));
  const text = [
    `Several upstreams (closed loop, ${s.connections} connections x ${s.saturationSeconds} s, medians of ${s.rounds} interleaved rounds)`,
    table(['gateway', 'req/s', 'cpu us/req'], names.map((n) => [n, result.rps[n]!.toFixed(0), result.cpuUsPerRequest[n]!.toFixed(1)])),
    `  two / one upstream req/s: ${result.twoOverOne.toFixed(3)}; routing cost: ${result.routingCostUs.toFixed(1)} us of gateway CPU per request`,
    `  routing cost with the second upstream down (one stand-in answers, as with one upstream): ${result.routingCostOneAnsweringUs.toFixed(1)} us per request`,
    result.oneOverBaseline !== null ? `  one upstream / ${opts.baseline} req/s: ${result.oneOverBaseline.toFixed(3)}` : '  (no --baseline ref: the one-upstream path was not compared with older code)',
    `  other processes used ${(result.foreignCpuShare * 100).toFixed(0)}% of the machine's CPU during this phase`,
  ].join('\n');
  return { result, checks, text };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      duration: { type: 'string', default: '5' },
      connections: { type: 'string', default: '50' },
      baseline: { type: 'string' },
    },
  });
  installCleanup();
  const pinning = pinSelf();
  setPinning(pinning);
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  say(`upstreams bench; ${pinning.note}`);
  const dir = makeTempDir();
  const s: UpstreamsSettings = { rounds: Number(values.rounds), connections: Number(values.connections), saturationSeconds: Number(values.duration), warmupSeconds: 1 };
  runUpstreams(s, dir, writeKeyFile(dir, 1_000), say, { baseline: values.baseline }).then(
    ({ text, checks }) => {
      say(`\n${text}`);
      for (const c of checks) say(`  ${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.value.toFixed(3)} (target ${c.limit})`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`upstreams bench: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}

/**
 * The phase as bench.ts runs it (`--phases upstreams`). BENCH_UPSTREAMS_BASELINE names a git ref
 * whose gateway is measured beside the one-upstream path (the "within 3%" check).
 */
export const upstreamsPhase: PhaseModule = {
  name: 'upstreams',
  describe: 'one upstream vs two (and two with one down): req/s and the routing cost per request',
  async run(ctx) {
    return runUpstreams(ctx.settings, ctx.dir, ctx.keys, ctx.say, {
      standInUrl: ctx.standIn.url,
      baseline: process.env.BENCH_UPSTREAMS_BASELINE || undefined,
    });
  },
};
