/**
 * `--keys N`: the same gateway with an N-row key file. Load + parse time (in this process and
 * as the child saw it), RSS, saturation against the 1,000-key gateway in alternating runs, and
 * p99 at the fixed rate with and without `POST /admin/reload-keys` looping alongside, each reload
 * after a one-row edit of the file.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { FileKeySource } from '../../server/keys/file-source.ts';
import { parseKeyRows, toKeySet } from '../../server/keys/rows.ts';
import { createLogger } from '../../server/log.ts';
import { writeKeyFile } from './keyfile.ts';
import { chatRequests, paced, probe, saturate, type PacedResult, type Req } from './load.ts';
import { cpuMicros, ForeignCpu, memoryMb, startEntry, type ServerChild } from './processes.ts';
import { check, table, type Check } from './report.ts';
import { median } from './stats.ts';
import { ADMIN_KEY, ENTRY, gatewayEnv, HUGE_RATE_LIMIT, rotated, type Settings } from './targets.ts';

const PARSE_REPEATS = 3;
const RELOAD_TIMEOUT_MS = 30_000;
/**
 * Pause between reloads: back to back, a reload that blocks the event loop for most of a second
 * would leave the gateway no time to drain and measure its capacity instead of the reload's cost.
 */
const RELOAD_GAP_MS = 1_000;

export interface LargeKeysResult {
  rows: number;
  parseMs: { read: number; parse: number; total: number };
  childReadyMs: number;
  memoryMb: { idle1k: number; idleLarge: number; beforeReloads: number; afterLarge: number; peakLarge: number; overIdle: number };
  saturation: { rps1k: number; rpsLarge: number; ratio: number };
  fixed: {
    p50Quiet: number; p99Quiet: number; maxQuiet: number;
    p50Reloading: number; p99Reloading: number; maxReloading: number;
    reloads: number; reloadMs: number; failed: number;
  };
  /**
   * The gateway's own view, apart from the shared core: its event-loop delay (how late a 10 ms
   * timer fired: a stall of the loop) in each phase, and the CPU a reload costs (the gateway's CPU
   * time in a reloading phase minus that of the quiet phase before it, per reload).
   */
  loop: { maxQuietMs: number; p99QuietMs: number; maxReloadingMs: number; p99ReloadingMs: number; cpuPerReloadMs: number };
  coldStartMs: number;
  foreignCpuShare: number;
}

/**
 * In this process, as the gateway's KeyStore does it: `read` is the key source's load (read the
 * file and parse the CSV), `parse` turns rows into the key set (validate, hash every key).
 */
async function timeParse(path: string): Promise<LargeKeysResult['parseMs']> {
  const source = new FileKeySource(path, 'UTC', createLogger('silent'));
  const runs: Array<LargeKeysResult['parseMs']> = [];
  for (let i = 0; i < PARSE_REPEATS; i += 1) {
    const t0 = performance.now();
    const table = await source.load();
    const t1 = performance.now();
    toKeySet(parseKeyRows(table.values, { timeZone: table.timeZone, defaultRateLimit: Number(HUGE_RATE_LIMIT) }), Date.now());
    const t2 = performance.now();
    runs.push({ read: t1 - t0, parse: t2 - t1, total: t2 - t0 });
  }
  return { read: median(runs.map((r) => r.read)), parse: median(runs.map((r) => r.parse)), total: median(runs.map((r) => r.total)) };
}

/**
 * Two versions of the key file that differ in one client name (its last row's), swapped in by
 * rename before each reload: every reload then reads the whole file and picks up a real change,
 * as a reload after an admin's edit does, instead of finding the same key set again.
 */
function fileVersions(path: string): { swap: () => void } {
  const original = readFileSync(path);
  const text = original.toString('utf8');
  const lastRow = text.lastIndexOf('\n', text.length - 2) + 1;
  const comma = text.indexOf(',', lastRow);
  const edited = Buffer.from(`${text.slice(0, comma + 1)}renamed-${text.slice(comma + 1)}`);
  const tmp = `${path}.next`;
  let flip = false;
  return {
    swap: () => {
      flip = !flip;
      writeFileSync(tmp, flip ? edited : original, { mode: 0o600 });
      renameSync(tmp, path);
    },
  };
}

/** prom-client's monitorEventLoopDelay resolution: its figures are the timer's period plus the delay. */
const LOOP_MONITOR_RESOLUTION_MS = 10;

/**
 * The gateway's event-loop delay since the last call, from its /metrics (prom-client reads Node's
 * monitorEventLoopDelay histogram and resets it on every scrape), in ms beyond the timer's period.
 */
async function loopDelay(url: string): Promise<{ max: number; p99: number }> {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
  const text = await res.text();
  const gauge = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) * 1000 - LOOP_MONITOR_RESOLUTION_MS;
  return { max: gauge('nodejs_eventloop_lag_max_seconds'), p99: gauge('nodejs_eventloop_lag_p99_seconds') };
}

/** Reloads, RELOAD_GAP_MS apart, until `untilMs`, each after a one-row change; returns how long each took. */
async function reloadLoop(url: string, untilMs: number, file: { swap: () => void }): Promise<number[]> {
  const req: Req = { method: 'POST', path: '/admin/reload-keys', headers: { authorization: `Bearer ${ADMIN_KEY}` }, body: '' };
  const times: number[] = [];
  while (performance.now() < untilMs) {
    file.swap();
    const t0 = performance.now();
    const status = await probe(url, req, RELOAD_TIMEOUT_MS);
    if (status !== 200) throw new Error(`POST /admin/reload-keys answered ${status}`);
    times.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, Math.max(0, Math.min(RELOAD_GAP_MS, untilMs - performance.now()))));
  }
  return times;
}

export async function runLargeKeys(
  s: Settings,
  dir: string,
  upstreamUrl: string,
  gateway1k: { child: ServerChild; keys: string[]; idleMb: number },
  coldStart: (keysFile: string, key: string) => Promise<number>,
  say: (line: string) => void,
): Promise<{ result: LargeKeysResult; checks: Check[]; text: string }> {
  const rows = s.keys!;
  const watch = new ForeignCpu().start();
  say(`\n--keys ${rows}: writing the key file`);
  const file = writeKeyFile(dir, rows);
  const parseMs = await timeParse(file.path);
  say(`  load in-process: ${parseMs.total.toFixed(0)} ms (file + CSV ${parseMs.read.toFixed(0)}, rows to key set ${parseMs.parse.toFixed(0)})`);
  const large = await startEntry(ENTRY.gateway, gatewayEnv(file.path, upstreamUrl));
  const versions = fileVersions(file.path);
  if (large.info.keys_loaded !== rows) throw new Error(`the ${rows}-key gateway loaded ${String(large.info.keys_loaded)} keys`);
  const idleLarge = memoryMb(large.pid)?.rss ?? NaN;
  const [req] = chatRequests([file.sample[0]!]);
  if ((await probe(large.url, req!, 10_000)) !== 200) throw new Error(`the ${rows}-key gateway refused a valid key`);

  const targets = [
    { name: '1k', url: gateway1k.child.url, keys: gateway1k.keys },
    { name: 'large', url: large.url, keys: file.sample },
  ];
  await saturate(large.url, chatRequests(file.sample), s.connections, s.warmupSeconds);
  const rps: Record<string, number[]> = { '1k': [], large: [] };
  const quiet: PacedResult[] = [];
  const loud: PacedResult[] = [];
  const reloadTimes: number[] = [];
  const lagQuiet: Array<{ max: number; p99: number }> = [];
  const lagLoud: Array<{ max: number; p99: number }> = [];
  const cpuPerReload: number[] = [];
  const cpuMs = (): number => (cpuMicros(large.pid) ?? NaN) / 1000;
  let beforeReloads = NaN;
  for (let round = 0; round < s.rounds; round += 1) {
    say(`  round ${round + 1}/${s.rounds}`);
    for (const t of rotated(targets, round)) {
      const r = await saturate(t.url, chatRequests(t.keys), s.connections, s.saturationSeconds);
      rps[t.name]!.push(r.rps);
      say(`    saturation ${t.name === 'large' ? `${rows} keys` : '1,000 keys'}: ${r.rps.toFixed(0)} req/s`);
    }
    await loopDelay(large.url); // resets the histogram
    const cpu0 = cpuMs();
    quiet.push(await paced(large.url, chatRequests(file.sample), s.rate, s.fixedMs));
    const cpu1 = cpuMs();
    lagQuiet.push(await loopDelay(large.url));
    if (round === 0) beforeReloads = memoryMb(large.pid)?.rss ?? NaN;
    const until = performance.now() + s.fixedMs;
    const [withReloads, times] = await Promise.all([paced(large.url, chatRequests(file.sample), s.rate, s.fixedMs), reloadLoop(large.url, until, versions)]);
    cpuPerReload.push((cpuMs() - cpu1 - (cpu1 - cpu0)) / times.length);
    lagLoud.push(await loopDelay(large.url));
    loud.push(withReloads);
    reloadTimes.push(...times);
    say(`    fixed rate p99: ${quiet.at(-1)!.p99.toFixed(2)} ms quiet, ${withReloads.p99.toFixed(2)} ms with ${times.length} reloads running`);
  }
  const after = memoryMb(large.pid);
  const coldStartMs = await coldStart(file.path, file.sample[0]!);
  await large.stop();

  const ratiosPerRound = rps.large!.map((v, i) => v / rps['1k']![i]!);
  const result: LargeKeysResult = {
    rows,
    parseMs,
    childReadyMs: Number(large.info.ready_ms),
    memoryMb: {
      idle1k: gateway1k.idleMb,
      idleLarge,
      beforeReloads,
      afterLarge: after?.rss ?? NaN,
      peakLarge: after?.peak ?? NaN,
      overIdle: (after?.peak ?? NaN) - gateway1k.idleMb,
    },
    saturation: { rps1k: median(rps['1k']!), rpsLarge: median(rps.large!), ratio: median(ratiosPerRound) },
    fixed: {
      p50Quiet: median(quiet.map((q) => q.p50)),
      p99Quiet: median(quiet.map((q) => q.p99)),
      maxQuiet: median(quiet.map((q) => q.max)),
      p50Reloading: median(loud.map((q) => q.p50)),
      p99Reloading: median(loud.map((q) => q.p99)),
      maxReloading: median(loud.map((q) => q.max)),
      reloads: reloadTimes.length,
      reloadMs: median(reloadTimes),
      failed: [...quiet, ...loud].reduce((a, q) => a + q.failed, 0),
    },
    loop: {
      maxQuietMs: median(lagQuiet.map((l) => l.max)),
      p99QuietMs: median(lagQuiet.map((l) => l.p99)),
      maxReloadingMs: median(lagLoud.map((l) => l.max)),
      p99ReloadingMs: median(lagLoud.map((l) => l.p99)),
      cpuPerReloadMs: median(cpuPerReload),
    },
    coldStartMs,
    foreignCpuShare: watch.share(),
  };
  const m = result.memoryMb;
  const checks = [
    check(`${rows} keys: load + parse (in-process)`, parseMs.total, 'ms', '<', 2000),
    check(`${rows} keys: peak RSS over an idle 1,000-key gateway`, m.overIdle, 'MB', '<', 150),
    check(`${rows} keys: throughput / 1,000 keys`, result.saturation.ratio, '', '>=', 0.95),
    check(`${rows} keys: p99 added while reloading`, result.fixed.p99Reloading - result.fixed.p99Quiet, 'ms', '<=', 2),
    check(`${rows} keys: start to first served request`, coldStartMs, 'ms', '<', 1000),
  ];
  const text = table(
    ['--keys ' + rows, 'value'],
    [
      ['load in-process: file + CSV, rows to key set', `${parseMs.total.toFixed(0)} ms (${parseMs.read.toFixed(0)} + ${parseMs.parse.toFixed(0)})`],
      ['load: child process start to key set loaded', `${result.childReadyMs.toFixed(0)} ms`],
      ['RSS idle: 1,000 keys / large keys', `${m.idle1k.toFixed(0)} / ${m.idleLarge.toFixed(0)} MB`],
      ['RSS large keys: after traffic, before any reload', `${m.beforeReloads.toFixed(0)} MB`],
      ['RSS large keys: after reloads / peak (HWM)', `${m.afterLarge.toFixed(0)} / ${m.peakLarge.toFixed(0)} MB`],
      ['saturation: 1,000 keys / large keys', `${result.saturation.rps1k.toFixed(0)} / ${result.saturation.rpsLarge.toFixed(0)} req/s (ratio ${result.saturation.ratio.toFixed(3)})`],
      [`${s.rate} req/s p50 / p99 / max, quiet`, `${result.fixed.p50Quiet.toFixed(2)} / ${result.fixed.p99Quiet.toFixed(2)} / ${result.fixed.maxQuiet.toFixed(0)} ms`],
      [`${s.rate} req/s p50 / p99 / max, reloading`, `${result.fixed.p50Reloading.toFixed(2)} / ${result.fixed.p99Reloading.toFixed(2)} / ${result.fixed.maxReloading.toFixed(0)} ms`],
      [`reloads run (${RELOAD_GAP_MS} ms apart) / median reload answer`, `${result.fixed.reloads} / ${result.fixed.reloadMs.toFixed(0)} ms`],
      ['gateway event-loop delay p99 / max, quiet', `${result.loop.p99QuietMs.toFixed(1)} / ${result.loop.maxQuietMs.toFixed(1)} ms`],
      ['gateway event-loop delay p99 / max, reloading', `${result.loop.p99ReloadingMs.toFixed(1)} / ${result.loop.maxReloadingMs.toFixed(1)} ms`],
      ['gateway CPU per reload (reloading minus quiet phase)', `${result.loop.cpuPerReloadMs.toFixed(0)} ms`],
      ['failed requests at the fixed rate', String(result.fixed.failed)],
      ['start to first served request', `${coldStartMs.toFixed(0)} ms`],
      ['CPU used by other processes meanwhile', `${(result.foreignCpuShare * 100).toFixed(0)}%`],
    ],
  );
  return { result, checks, text };
}
