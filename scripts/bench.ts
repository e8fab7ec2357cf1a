/**
 * `npm run bench`: the gateway against the yardstick (scripts/node-proxy.ts, the fastest honest
 * minimal undici proxy with the same key check) and against the stand-in vLLM directly, all on
 * loopback, each server in its own process. The gateway is measured as users run it
 * (LOG_LEVEL=info, metrics and usage on); LOG_LEVEL=warn and Redis limits are extra rows. Rounds
 * interleave the targets; every figure is a median with its min–max over rounds. Prints tables and
 * pass/fail against the targets (docs/performance.md), writes JSON, exits 0.
 *
 *   npm run bench -- [--phases saturation,latency,streams,coldstart,keys] [--rounds 5] [--quick]
 *                    [--duration 10] [--streams 300,1000] [--chunks 100] [--keys 100000] [--out bench-results.json]
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { writeKeyFile } from './bench/keyfile.ts';
import { runLargeKeys, type LargeKeysResult } from './bench/large-keys.ts';
import { chatRequests, saturate, streaming } from './bench/load.ts';
import type { PhaseModule, PhaseOutcome } from './bench/phase.ts';
import { ForeignCpu, freePort, installCleanup, unexpectedExits, makeTempDir, memoryMb, pinSelf, ROOT, setPinning, spawnTracked, startEntry, startRedis, stopChild, type ServerChild } from './bench/processes.ts';
import { checkLines, mainChecks, mainTables, ratios, summarise, check, type Check } from './bench/report.ts';
import { median, parseList } from './bench/stats.ts';
import { baselineEntry, compileEntries } from './bench/compiled.ts';
import { profilePhase } from './bench/profile.ts';
import { streamsPhase } from './bench/stream-phase.ts';
import { upstreamsPhase } from './bench/upstreams.ts';
import { builtMain, coldStart, ENTRY, gatewayEnv, checkTargets, runRound, type Round, type Settings, type Target } from './bench/targets.ts';

/**
 * Phases in modules of their own, run after the rounds when `--phases` names them. The hook for
 * new phases: import the module and add it here (e.g. `upstreamsPhase` from ./bench/upstreams.ts).
 */
const PHASES: PhaseModule[] = [streamsPhase, upstreamsPhase, profilePhase];
/** Phases bench.ts runs itself. */
const BUILT_IN = ['saturation', 'latency', 'coldstart', 'keys'];
const DEFAULT_PHASES = 'saturation,latency,streams,coldstart';

const KEYS_DEFAULT = 1_000;
const LARGE_KEYS_DEFAULT = 100_000;
const COLD_START_RUNS = 3;
/** The stand-in's pause between streamed chunks in the rounds: small, so "last chunk" is not all sleeping. */
const CHUNK_DELAY_MS = '1';
/** Before the rounds: how long the machine is watched idle, and the share of CPU others may use. */
const QUIET_CHECK_MS = 2_000;
const NOISY_SHARE = 0.05;
const STDERR_LINES = 10;


function settings(): Settings {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      phases: { type: 'string' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      keys: { type: 'string' },
      rate: { type: 'string', default: '1000' },
      connections: { type: 'string', default: '50' },
      streams: { type: 'string' },
      chunks: { type: 'string' },
      out: { type: 'string', default: 'bench-results.json' },
      baseline: { type: 'string' },
      tsx: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`npm run bench -- [options]\n  --phases LIST  default ${DEFAULT_PHASES} (keys is added by --keys N)\n${[
      '  saturation  closed loop, 50 connections: req/s, CPU per request',
      '  latency     1,000 req/s open loop, and one stream at a time: added p50/p99, first chunk',
      '  coldstart   process start to first served request',
      `  keys        the gateway with --keys N rows (default ${LARGE_KEYS_DEFAULT})`,
      ...PHASES.map((p) => `  ${p.name.padEnd(11)} ${p.describe}`),
    ].join('\n')}\n  --baseline DIR  also measure the gateway of another checkout (git archive <commit> server scripts | tar -x -C DIR) as target "baseline"\n  --rounds N --duration S --quick --streams 300,1000 --chunks 100 --rate 1000 --connections 50 --out FILE\n  --tsx  run the gateway and the yardstick under tsx, as before (default: compiled with tsc, as the image runs them)\n`);
    process.exit(0);
  }
  const quick = values.quick!;
  const seconds = Number(values.duration ?? (quick ? 2 : 10));
  const positive = (name: string, v: number): number => {
    if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
    return v;
  };
  const phases = new Set((values.phases ?? DEFAULT_PHASES).split(',').map((p) => p.trim()).filter(Boolean));
  if (values.keys !== undefined) phases.add('keys');
  const known = [...BUILT_IN, ...PHASES.map((p) => p.name)];
  for (const p of phases) if (!known.includes(p)) throw new Error(`--phases: unknown phase ${p} (known: ${known.join(', ')})`);
  return {
    quick,
    phases,
    rounds: Math.round(positive('rounds', Number(values.rounds ?? (quick ? 2 : 5)))),
    connections: Math.round(positive('connections', Number(values.connections))),
    saturationSeconds: Math.round(positive('duration', seconds)),
    warmupSeconds: quick ? 1 : 3,
    rate: positive('rate', Number(values.rate)),
    fixedMs: positive('duration', seconds) * 1000,
    streams: quick ? 50 : 200,
    streamConcurrencies: parseList(values.streams ?? (quick ? '100,300' : '300,1000'), 'streams'),
    streamChunks: Math.round(positive('chunks', Number(values.chunks ?? (quick ? 50 : 100)))),
    keys: phases.has('keys') ? Math.round(positive('keys', Number(values.keys ?? LARGE_KEYS_DEFAULT))) : null,
    out: resolve(values.out!),
    baseline: values.baseline === undefined ? null : resolve(values.baseline),
    tsx: values.tsx!,
  };
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const pct = (share: number): string => (Number.isFinite(share) ? `${(share * 100).toFixed(0)}%` : '?');

/** Which gateway code was measured: the commit, and how many files under server/ differ from it. */
function sourceState(): string {
  const git = (...args: string[]): string => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout?.trim() ?? '';
  const commit = git('rev-parse', '--short', 'HEAD');
  if (!commit) return 'not a git checkout';
  const changed = git('status', '--porcelain', '--', 'server').split('\n').filter(Boolean).length;
  return changed ? `${commit} + ${changed} uncommitted change(s) under server/` : commit;
}

/** Watches the machine with nothing of the bench's running: others' load makes every figure noisy. */
async function quietCheck(): Promise<number> {
  const watch = new ForeignCpu().start();
  await new Promise((r) => setTimeout(r, QUIET_CHECK_MS));
  return watch.share();
}

async function main(): Promise<void> {
  const s = settings();
  installCleanup();
  const started = performance.now();
  const overall = new ForeignCpu().start();
  const pinning = pinSelf();
  setPinning(pinning);
  const source = sourceState();
  say(`convergence-gateway bench (${source}): node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}); ${pinning.note}`);
  say(`phases ${[...s.phases].join(',')}; ${s.rounds} rounds; saturation ${s.connections} connections x ${s.saturationSeconds} s; fixed rate ${s.rate} req/s x ${s.fixedMs / 1000} s; streams ${s.streamConcurrencies.join(',')} x ${s.streamChunks} chunks${s.quick ? ' (--quick)' : ''}`);
  const quietBefore = await quietCheck();
  say(`before the bench, other processes used ${pct(quietBefore)} of the machine's CPU${quietBefore > NOISY_SHARE ? ': WARNING the machine is not quiet, figures will be noisy' : ''}`);

  const dir = makeTempDir();
  if (!s.tsx) {
    say(`gateway and yardstick: ${compileEntries(ROOT, [ENTRY.gateway, ENTRY.nodeProxy], join(dir, 'build'))}`);
    if (s.baseline) say(`baseline: ${compileEntries(s.baseline, [baselineEntry(s.baseline, ENTRY.gateway)], join(dir, 'build-baseline'))}`);
  }
  const keys = writeKeyFile(dir, KEYS_DEFAULT);
  const roundsWanted = s.phases.has('saturation') || s.phases.has('latency');
  const redis = roundsWanted ? await startRedis() : null;
  const standIn = await startEntry(ENTRY.standIn, { CHUNK_DELAY_MS });
  const proxyEnv = { KEYS_FILE: keys.path, UPSTREAM_URL: standIn.url, PORT: '0' };
  const [yardstick, gateway, gatewayWarn, gatewayRedis, baseline] = await Promise.all([
    startEntry(ENTRY.nodeProxy, proxyEnv),
    startEntry(ENTRY.gateway, gatewayEnv(keys.path, standIn.url, '', 'info')),
    roundsWanted ? startEntry(ENTRY.gateway, gatewayEnv(keys.path, standIn.url, '', 'warn')) : null,
    redis ? startEntry(ENTRY.gateway, gatewayEnv(keys.path, standIn.url, redis.url, 'info')) : null,
    s.baseline && roundsWanted ? startEntry(baselineEntry(s.baseline, ENTRY.gateway), gatewayEnv(keys.path, standIn.url, '', 'info')) : null,
  ]);
  const idleMb = memoryMb(gateway.pid)?.rss ?? NaN;
  const upstreamPid = standIn.pid;
  const targets: Target[] = [
    { name: 'direct', url: standIn.url, pids: [], upstreamPid },
    { name: 'yardstick', url: yardstick.url, pids: [yardstick.pid], upstreamPid },
    { name: 'gateway', url: gateway.url, pids: [gateway.pid], upstreamPid },
  ];
  if (gatewayWarn) targets.push({ name: 'gateway-warn', url: gatewayWarn.url, pids: [gatewayWarn.pid], upstreamPid });
  if (baseline) targets.push({ name: 'baseline', url: baseline.url, pids: [baseline.pid], upstreamPid });
  if (gatewayRedis && redis) targets.push({ name: 'gateway+redis', url: gatewayRedis.url, pids: [gatewayRedis.pid, redis.pid], upstreamPid });
  const names = targets.map((t) => t.name);
  await checkTargets(targets, keys.sample[0]!);

  const rounds: Round[] = [];
  const foreign: number[] = [];
  if (roundsWanted) {
    say('warming up');
    for (const t of targets) {
      await saturate(t.url, chatRequests(keys.sample), s.connections, s.warmupSeconds);
      await streaming(t.url, keys.sample, 10);
    }
    for (let i = 0; i < s.rounds; i += 1) {
      say(`round ${i + 1}/${s.rounds}`);
      const watch = new ForeignCpu().start();
      rounds.push(await runRound(targets, keys.sample, s, i, say));
      foreign.push(watch.share());
      say(`  other processes used ${pct(foreign.at(-1)!)} of the machine's CPU during this round${foreign.at(-1)! > NOISY_SHARE ? ' (noisy)' : ''}`);
    }
  }

  const extra: Record<string, PhaseOutcome> = {};
  for (const phase of PHASES.filter((p) => s.phases.has(p.name))) {
    say(`phase ${phase.name}`);
    extra[phase.name] = await phase.run({ settings: s, dir, keys, standIn, gateway, say });
  }

  // Start to first served request, each in its own process on CPU 1: the production entry (the
  // Dockerfile's CMD; it decides the check), and `npm start`'s tsx entry, which transpiles at start.
  const coldStarts: Record<string, number> = {};
  const entries: Array<[string, string[]]> = [['node --import tsx server/main.ts', ['--import', 'tsx', ENTRY.main]]];
  let builtNote = 'not measured';
  const coldStartMedian = async (keysFile: string, key: string, args = entries[0]![1]): Promise<number> => {
    const spawnMain = (port: number) => {
      const child = spawnTracked(process.execPath, args, { ...gatewayEnv(keysFile, standIn.url, '', 'warn'), PORT: String(port) });
      child.stdout!.resume();
      child.stderr!.resume();
      return { stop: () => stopChild(child) };
    };
    const runs: number[] = [];
    for (let i = 0; i < (s.quick ? 1 : COLD_START_RUNS); i += 1) runs.push(await coldStart(spawnMain, await freePort(), key));
    return median(runs);
  };
  // The keys phase times its cold start on the production entry too.
  if (s.phases.has('coldstart') || s.keys !== null) {
    const built = builtMain(dir);
    builtNote = built.note;
    if (built.file) entries.unshift(['node dist/server/main.js', [built.file]]);
  }
  if (s.phases.has('coldstart')) {
    for (const [label, args] of entries) coldStarts[label] = await coldStartMedian(keys.path, keys.sample[0]!, args);
  }

  const summary = summarise(rounds, names);
  const ratioTable = ratios(rounds, names);
  const checks: Check[] = roundsWanted ? mainChecks(summary, ratioTable, s.phases) : [];
  for (const outcome of Object.values(extra)) checks.push(...outcome.checks);
  if (s.phases.has('coldstart')) checks.push(check(`start to first served request (${entries[0]![0]})`, coldStarts[entries[0]![0]]!, 'ms', '<', 1000));
  let large: { result: LargeKeysResult; checks: Check[]; text: string } | null = null;
  if (s.keys !== null) {
    large = await runLargeKeys(s, dir, standIn.url, { child: gateway, keys: keys.sample, idleMb }, coldStartMedian, say);
    checks.push(...large.checks);
  }
  const memAfter = memoryMb(gateway.pid);

  if (roundsWanted) say(`\n${mainTables(summary, ratioTable, names, s.rate, s.phases)}`);
  for (const outcome of Object.values(extra)) say(`\n${outcome.text}`);
  say('');
  for (const [label, ms] of Object.entries(coldStarts)) say(`start to first served request (${label}, ${KEYS_DEFAULT} keys): ${ms.toFixed(0)} ms`);
  if (s.phases.has('coldstart')) say(`  (production entry: ${builtNote})`);
  say(`gateway RSS, ${KEYS_DEFAULT} keys: ${idleMb.toFixed(0)} MB idle, ${memAfter?.rss.toFixed(0) ?? '?'} MB after the runs (peak ${memAfter?.peak.toFixed(0) ?? '?'} MB)`);
  if (large) say(`\n${large.text}`);
  const foreignAll = overall.share();
  say(`\nother processes used ${pct(foreignAll)} of the machine's CPU during the bench (before: ${pct(quietBefore)}; per round: ${foreign.map(pct).join(', ') || '-'})${Math.max(foreignAll, quietBefore) > NOISY_SHARE ? ': figures are noisy, not for the record' : ''}`);
  say(`\nTargets (medians of ${s.rounds} interleaved rounds${s.quick ? '; --quick: too short to judge' : ''})\n${checkLines(checks)}`);

  const failures = Object.entries(summary).filter(([, v]) => v.saturation.non2xx + v.saturation.errors + v.fixed.failed + v.stream.failed > 0);
  for (const [name, v] of failures) {
    say(`WARNING ${name}: ${v.saturation.non2xx} non-2xx and ${v.saturation.errors} errors at saturation, ${v.fixed.failed} failed at the fixed rate, ${v.stream.failed} failed streams`);
  }

  const servers: Array<[string, ServerChild | null]> = [['gateway', gateway], ['gateway-warn', gatewayWarn], ['gateway+redis', gatewayRedis], ['baseline', baseline], ['yardstick', yardstick]];
  for (const [name, child] of servers) {
    if (!child) continue;
    const lines = [...child.logWarnings(), ...child.stderrTail().trim().split('\n').filter(Boolean)];
    if (lines.length > 0) say(`\n${name} logged warnings or wrote to stderr (last ${Math.min(lines.length, STDERR_LINES)} lines):\n${lines.slice(-STDERR_LINES).join('\n')}`);
  }
  for (const exit of unexpectedExits) say(`\nERROR ${exit}`);

  const elapsedS = (performance.now() - started) / 1000;
  writeFileSync(
    s.out,
    `${JSON.stringify(
      {
        at: new Date().toISOString(),
        source,
        node: process.version,
        cpus: cpus().length,
        pinning: pinning.note,
        settings: { ...s, phases: [...s.phases] },
        summary,
        ratios: ratioTable,
        phases: Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, v.result])),
        cold_start_ms: coldStarts,
        built_entry: builtNote,
        foreign_cpu_share: { before: quietBefore, overall: foreignAll, rounds: foreign },
        gateway_ready_ms: gateway.info.ready_ms,
        gateway_rss_mb: { idle: idleMb, after: memAfter?.rss ?? null, peak: memAfter?.peak ?? null },
        large_keys: large?.result ?? null,
        checks,
        unexpected_exits: unexpectedExits,
        rounds,
        elapsed_s: elapsedS,
      },
      null,
      2,
    )}\n`,
  );
  say(`\nwrote ${s.out} (${elapsedS.toFixed(0)} s)`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    const message = (err as Error)?.message ?? String(err);
    // A bad flag needs its one line, not a stack.
    process.stderr.write(`bench: ${message.startsWith('--') ? message : (err as Error)?.stack ?? message}\n`);
    process.exit(message.startsWith('--') ? 2 : 1);
  },
);
