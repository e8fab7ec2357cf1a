/**
 * `npm run bench`: the gateway against a minimal node:http proxy and against the stand-in vLLM
 * directly, all on loopback, each server in its own process. Runs rounds that alternate the
 * targets, prints medians, ratios and pass/fail against the targets, writes JSON, exits 0.
 *
 *   npm run bench -- [--quick] [--rounds 3] [--duration 10] [--keys 100000] [--out bench-results.json]
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { writeKeyFile } from './bench/keyfile.ts';
import { runLargeKeys, type LargeKeysResult } from './bench/large-keys.ts';
import { chatRequests, saturate, streaming } from './bench/load.ts';
import { ForeignCpu, freePort, installCleanup, unexpectedExits, makeTempDir, memoryMb, pinSelf, ROOT, setPinning, spawnTracked, startEntry, startRedis, stopChild } from './bench/processes.ts';
import { checkLines, mainChecks, mainTables, ratios, summarise, type Check } from './bench/report.ts';
import { median } from './bench/stats.ts';
import { builtMain, coldStart, ENTRY, gatewayEnv, checkTargets, runRound, type Round, type Settings, type Target } from './bench/targets.ts';

const KEYS_DEFAULT = 1_000;
const COLD_START_RUNS = 3;
/** The stand-in's pause between streamed chunks: small, so "last chunk" is not all sleeping. */
const CHUNK_DELAY_MS = '1';

function settings(): Settings {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      keys: { type: 'string' },
      rate: { type: 'string', default: '1000' },
      connections: { type: 'string', default: '50' },
      out: { type: 'string', default: 'bench-results.json' },
    },
  });
  const quick = values.quick!;
  const seconds = Number(values.duration ?? (quick ? 2 : 10));
  const positive = (name: string, v: number): number => {
    if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
    return v;
  };
  return {
    quick,
    rounds: Math.round(positive('rounds', Number(values.rounds ?? 3))),
    connections: Math.round(positive('connections', Number(values.connections))),
    saturationSeconds: Math.round(positive('duration', seconds)),
    warmupSeconds: quick ? 1 : 3,
    rate: positive('rate', Number(values.rate)),
    fixedMs: positive('duration', seconds) * 1000,
    streams: quick ? 50 : 200,
    keys: values.keys === undefined ? null : Math.round(positive('keys', Number(values.keys))),
    out: resolve(values.out!),
  };
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const pct = (share: number): string => (Number.isFinite(share) ? `${(share * 100).toFixed(0)}%` : '?');
/** Above this share of the machine's CPU used by others, the figures are flagged as noisy. */
const NOISY_SHARE = 0.05;
const STDERR_LINES = 10;

/** Which gateway code was measured: the commit, and how many files under server/ differ from it. */
function sourceState(): string {
  const git = (...args: string[]): string => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout?.trim() ?? '';
  const commit = git('rev-parse', '--short', 'HEAD');
  if (!commit) return 'not a git checkout';
  const changed = git('status', '--porcelain', '--', 'server').split('\n').filter(Boolean).length;
  return changed ? `${commit} + ${changed} uncommitted change(s) under server/` : commit;
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
  say(`${s.rounds} rounds; saturation ${s.connections} connections x ${s.saturationSeconds} s; fixed rate ${s.rate} req/s x ${s.fixedMs / 1000} s; ${s.streams} streamed requests${s.quick ? ' (--quick)' : ''}`);

  const dir = makeTempDir();
  const keys = writeKeyFile(dir, KEYS_DEFAULT);
  const redis = await startRedis();
  const standIn = await startEntry(ENTRY.standIn, { CHUNK_DELAY_MS });
  const [nodeProxy, gateway, gatewayRedis] = await Promise.all([
    startEntry(ENTRY.nodeProxy, { KEYS_FILE: keys.path, UPSTREAM_URL: standIn.url, PORT: '0' }),
    startEntry(ENTRY.gateway, gatewayEnv(keys.path, standIn.url)),
    startEntry(ENTRY.gateway, gatewayEnv(keys.path, standIn.url, redis.url)),
  ]);
  const idleMb = memoryMb(gateway.pid)?.rss ?? NaN;
  const targets: Target[] = [
    { name: 'direct', url: standIn.url, pids: [] },
    { name: 'node-proxy', url: nodeProxy.url, pids: [nodeProxy.pid] },
    { name: 'gateway', url: gateway.url, pids: [gateway.pid] },
    { name: 'gateway+redis', url: gatewayRedis.url, pids: [gatewayRedis.pid, redis.pid] },
  ];
  const names = targets.map((t) => t.name);
  await checkTargets(targets, keys.sample[0]!);

  say('warming up');
  for (const t of targets) {
    await saturate(t.url, chatRequests(keys.sample), s.connections, s.warmupSeconds);
    await streaming(t.url, keys.sample, 10);
  }
  const rounds: Round[] = [];
  const foreign: number[] = [];
  for (let i = 0; i < s.rounds; i += 1) {
    say(`round ${i + 1}/${s.rounds}`);
    const watch = new ForeignCpu().start();
    rounds.push(await runRound(targets, keys.sample, s, i, say));
    foreign.push(watch.share());
    say(`  other processes used ${pct(foreign.at(-1)!)} of the machine's CPU during this round`);
  }

  // Start to first served request, each in its own process on CPU 1: the production entry (the
  // Dockerfile's CMD; it decides the check), and `npm start`'s tsx entry, which transpiles at start.
  const built = builtMain(dir);
  const entries: Array<[string, string[]]> = [['node --import tsx server/main.ts', ['--import', 'tsx', ENTRY.main]]];
  if (built.file) entries.unshift(['node dist/server/main.js', [built.file]]);
  const coldStartMedian = async (keysFile: string, key: string, args = entries[0]![1]): Promise<number> => {
    const spawnMain = (port: number) => {
      const child = spawnTracked(process.execPath, args, { ...gatewayEnv(keysFile, standIn.url), PORT: String(port) });
      child.stdout!.resume();
      child.stderr!.resume();
      return { stop: () => stopChild(child) };
    };
    const runs: number[] = [];
    for (let i = 0; i < (s.quick ? 1 : COLD_START_RUNS); i += 1) runs.push(await coldStart(spawnMain, await freePort(), key));
    return median(runs);
  };
  const coldStarts: Record<string, number> = {};
  for (const [label, args] of entries) coldStarts[label] = await coldStartMedian(keys.path, keys.sample[0]!, args);
  const coldStartMs = coldStarts[entries[0]![0]]!;

  const summary = summarise(rounds, names);
  const ratioTable = ratios(rounds);
  const checks: Check[] = mainChecks(summary, ratioTable, coldStartMs, entries[0]![0]);
  let large: { result: LargeKeysResult; checks: Check[]; text: string } | null = null;
  if (s.keys !== null) {
    large = await runLargeKeys(s, dir, standIn.url, { child: gateway, keys: keys.sample, idleMb }, coldStartMedian, say);
    checks.push(...large.checks);
  }
  const memAfter = memoryMb(gateway.pid);

  say(`\n${mainTables(summary, ratioTable, names, s.rate)}`);
  say('');
  for (const [label, ms] of Object.entries(coldStarts)) say(`start to first served request (${label}, ${KEYS_DEFAULT} keys): ${ms.toFixed(0)} ms`);
  say(`  (production entry: ${built.file ? built.note : `not measured: ${built.note}`})`);
  say(`gateway RSS, ${KEYS_DEFAULT} keys: ${idleMb.toFixed(0)} MB idle, ${memAfter?.rss.toFixed(0) ?? '?'} MB after the runs (peak ${memAfter?.peak.toFixed(0) ?? '?'} MB)`);
  if (large) say(`\n${large.text}`);
  const foreignAll = overall.share();
  say(`\nother processes used ${pct(foreignAll)} of the machine's CPU during the bench (per round: ${foreign.map(pct).join(', ')})${foreignAll > NOISY_SHARE ? ': figures are noisy' : ''}`);
  say(`\nTargets (medians of ${s.rounds} rounds${s.quick ? '; --quick: too short to judge' : ''})\n${checkLines(checks)}`);

  const failures = Object.entries(summary).filter(([, v]) => v.saturation.non2xx + v.saturation.errors + v.fixed.failed + v.stream.failed > 0);
  for (const [name, v] of failures) {
    say(`WARNING ${name}: ${v.saturation.non2xx} non-2xx and ${v.saturation.errors} errors at saturation, ${v.fixed.failed} failed at the fixed rate, ${v.stream.failed} failed streams`);
  }

  for (const [name, child] of [['gateway', gateway], ['gateway+redis', gatewayRedis], ['node-proxy', nodeProxy]] as const) {
    const lines = child.stderrTail().trim().split('\n').filter(Boolean);
    if (lines.length > 0) say(`\n${name} wrote to stderr (last ${Math.min(lines.length, STDERR_LINES)} lines):\n${lines.slice(-STDERR_LINES).join('\n')}`);
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
        settings: s,
        summary,
        ratios: ratioTable,
        cold_start_ms: coldStarts,
        built_entry: built.note,
        foreign_cpu_share: { overall: foreignAll, rounds: foreign },
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
    process.stderr.write(`bench: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
