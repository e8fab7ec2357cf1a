/**
 * Figures over rounds (median and min–max), ratios taken within each round, the printed tables
 * and the target checks. A target missing from a round (its phase not run) gives NaN, shown '-'.
 */
import { formatSpread, spread, type Spread } from './stats.ts';
import type { StreamSummary } from './stream-phase.ts';
import type { Round } from './targets.ts';

export interface TargetSummary {
  saturation: { rps: Spread; p50: Spread; p99: Spread; cpuUsPerRequest: Spread; upstreamCpuUsPerRequest: Spread; non2xx: number; errors: number };
  fixed: { p50: Spread; p99: Spread; addedP50: Spread; addedP99: Spread; achievedRps: Spread; failed: number };
  stream: { firstP50: Spread; firstP99: Spread; addedFirstP50: Spread; addedFirstP99: Spread; lastP50: Spread; failed: number };
}

export type Ratios = Record<string, Spread>;

export interface Check {
  name: string;
  value: number;
  unit: string;
  limit: string;
  pass: boolean;
}

export const DIRECT = 'direct';
export const YARDSTICK = 'yardstick';
export const GATEWAY = 'gateway';

const over = (rounds: Round[], f: (r: Round) => number | undefined): Spread => spread(rounds.map((r) => f(r) ?? NaN));
const sum = (rounds: Round[], f: (r: Round) => number | undefined): number => rounds.reduce((acc, r) => acc + (f(r) ?? 0), 0);

export function summarise(rounds: Round[], names: string[]): Record<string, TargetSummary> {
  const out: Record<string, TargetSummary> = {};
  for (const n of names) {
    const t = (r: Round) => r[n];
    const d = (r: Round) => r[DIRECT];
    const minus = (a: number | undefined, b: number | undefined): number => (a ?? NaN) - (b ?? NaN);
    out[n] = {
      saturation: {
        rps: over(rounds, (r) => t(r)?.saturation?.rps),
        p50: over(rounds, (r) => t(r)?.saturation?.p50),
        p99: over(rounds, (r) => t(r)?.saturation?.p99),
        cpuUsPerRequest: over(rounds, (r) => t(r)?.saturation?.cpuUsPerRequest ?? NaN),
        upstreamCpuUsPerRequest: over(rounds, (r) => t(r)?.saturation?.upstreamCpuUsPerRequest ?? NaN),
        non2xx: sum(rounds, (r) => t(r)?.saturation?.non2xx),
        errors: sum(rounds, (r) => t(r)?.saturation?.errors),
      },
      fixed: {
        p50: over(rounds, (r) => t(r)?.fixed?.p50),
        p99: over(rounds, (r) => t(r)?.fixed?.p99),
        addedP50: over(rounds, (r) => minus(t(r)?.fixed?.p50, d(r)?.fixed?.p50)),
        addedP99: over(rounds, (r) => minus(t(r)?.fixed?.p99, d(r)?.fixed?.p99)),
        achievedRps: over(rounds, (r) => t(r)?.fixed?.achievedRps),
        failed: sum(rounds, (r) => t(r)?.fixed?.failed),
      },
      stream: {
        firstP50: over(rounds, (r) => t(r)?.stream?.firstChunk.p50),
        firstP99: over(rounds, (r) => t(r)?.stream?.firstChunk.p99),
        addedFirstP50: over(rounds, (r) => minus(t(r)?.stream?.firstChunk.p50, d(r)?.stream?.firstChunk.p50)),
        addedFirstP99: over(rounds, (r) => minus(t(r)?.stream?.firstChunk.p99, d(r)?.stream?.firstChunk.p99)),
        lastP50: over(rounds, (r) => t(r)?.stream?.lastChunk.p50),
        failed: sum(rounds, (r) => t(r)?.stream?.failed),
      },
    };
  }
  return out;
}

/** Throughput ratios, each over the per-round ratio (drift cancels within a round). */
export function ratios(rounds: Round[], names: string[]): Ratios {
  const rps = (r: Round, n: string) => r[n]?.saturation?.rps ?? NaN;
  const pairs: Array<[string, string]> = [
    [GATEWAY, YARDSTICK], ['gateway-warn', YARDSTICK], [GATEWAY, 'baseline'], ['gateway+redis', GATEWAY], [YARDSTICK, DIRECT], [GATEWAY, DIRECT],
  ];
  const out: Ratios = {};
  for (const [a, b] of pairs) if (names.includes(a) && names.includes(b)) out[`${a} / ${b}`] = over(rounds, (r) => rps(r, a) / rps(r, b));
  // What the ratio would be if the servers' core were the only limit: the CPU both processes on
  // it spend per request, inverted. CPU time is what other load on the machine disturbs least.
  const cpu = (r: Round, n: string) => (r[n]?.saturation?.cpuUsPerRequest ?? NaN) + (r[n]?.saturation?.upstreamCpuUsPerRequest ?? NaN);
  if (names.includes(GATEWAY) && names.includes(YARDSTICK)) out[`${GATEWAY} / ${YARDSTICK}, from CPU per request`] = over(rounds, (r) => cpu(r, YARDSTICK) / cpu(r, GATEWAY));
  return out;
}

export function check(name: string, value: number, unit: string, op: '>=' | '<=' | '<' | '=', limit: number): Check {
  const pass = op === '>=' ? value >= limit : op === '<=' ? value <= limit : op === '<' ? value < limit : value === limit;
  return { name, value, unit, limit: `${op} ${limit}${unit ? ` ${unit}` : ''}`, pass: Number.isFinite(value) && pass };
}

/** Checks of the phases that ran (a phase not run adds no check). */
export function mainChecks(s: Record<string, TargetSummary>, r: Ratios, phases: ReadonlySet<string>): Check[] {
  const g = s[GATEWAY]!;
  const out: Check[] = [];
  if (phases.has('saturation')) {
    out.push(check('saturation: gateway (LOG_LEVEL=info) / yardstick', r[`${GATEWAY} / ${YARDSTICK}`]?.median ?? NaN, '', '>=', 0.9));
    if (r['gateway+redis / gateway']) out.push(check('saturation: gateway+redis / gateway', r['gateway+redis / gateway'].median, '', '>=', 0.8));
  }
  if (phases.has('latency')) {
    out.push(check('1,000 req/s: gateway added p50', g.fixed.addedP50.median, 'ms', '<=', 0.3));
    out.push(check('1,000 req/s: gateway added p99', g.fixed.addedP99.median, 'ms', '<=', 2));
    out.push(check('one stream at a time: gateway added time to first chunk (p50)', g.stream.addedFirstP50.median, 'ms', '<=', 1));
  }
  return out;
}

/** The streaming targets: against the yardstick in the same round, at 300 streams; RSS and metering at every concurrency. */
export function streamChecks(summaries: StreamSummary[]): Check[] {
  const find = (target: string, n: number) => summaries.find((x) => x.target === target && x.streams === n);
  const out: Check[] = [];
  const g300 = find(GATEWAY, 300);
  const y300 = find(YARDSTICK, 300);
  if (g300 && y300) {
    const perRound = (f: (i: number) => number): number => spread(g300.runs.map((_, i) => f(i))).median;
    out.push(check('300 streams: gateway gap p99 - yardstick gap p99', perRound((i) => g300.runs[i]!.gap.p99 - (y300.runs[i]?.gap.p99 ?? NaN)), 'ms', '<=', 5));
    out.push(check('300 streams: gateway CPU per chunk / yardstick', perRound((i) => (g300.runs[i]!.cpuUsPerChunk ?? NaN) / (y300.runs[i]?.cpuUsPerChunk ?? NaN)), '', '<=', 1));
  }
  const gateways = summaries.filter((y) => y.target === GATEWAY).sort((a, b) => a.streams - b.streams);
  // Per open stream: the RSS added between the smallest and the largest concurrency, per stream
  // added. The growth from an idle process to the first hundreds of streams is mostly V8 sizing its
  // heap once (tens of MB whatever the count), which `rss KB/stream` at one concurrency includes.
  const slope = marginalKbPerStream(gateways);
  if (Number.isFinite(slope)) out.push(check(`gateway RSS per added open stream (${gateways[0]!.streams} -> ${gateways.at(-1)!.streams})`, slope, 'KB', '<=', 40));
  else for (const x of gateways) out.push(check(`${x.streams} streams: gateway peak RSS per open stream`, x.figures['rss KB/stream']!.median, 'KB', '<=', 40));
  for (const x of gateways) out.push(check(`${x.streams} streams: gateway tokens metered - generated`, (x.tokensMetered ?? NaN) - x.tokensGenerated, '', '=', 0));
  return out;
}

/** (peak RSS growth at the most streams - at the fewest) / streams added, KB; NaN with one concurrency. */
export function marginalKbPerStream(byConcurrency: Array<{ streams: number; figures: Record<string, Spread> }>): number {
  if (byConcurrency.length < 2) return NaN;
  const [lo, hi] = [byConcurrency[0]!, byConcurrency.at(-1)!];
  const grown = (x: typeof lo): number => x.figures['rss KB/stream']!.median * x.streams;
  return hi.streams > lo.streams ? (grown(hi) - grown(lo)) / (hi.streams - lo.streams) : NaN;
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const f = formatSpread;

export function mainTables(s: Record<string, TargetSummary>, r: Ratios, names: string[], rate: number, phases: ReadonlySet<string>): string {
  const parts: string[] = [];
  if (phases.has('saturation')) {
    const sat = table(
      ['target', 'req/s', 'p50 ms', 'p99 ms', 'cpu us/req', 'stand-in us/req', 'non-2xx', 'errors'],
      names.map((n) => {
        const x = s[n]!.saturation;
        return [n, f(x.rps, 0), f(x.p50), f(x.p99), f(x.cpuUsPerRequest, 0), f(x.upstreamCpuUsPerRequest, 0), String(x.non2xx), String(x.errors)];
      }),
    );
    const rat = Object.entries(r).map(([k, v]) => `  ${k.padEnd(46)} ${f(v)}`).join('\n');
    parts.push(`Saturation, closed loop; median [min-max] over rounds (cpu us/req: the target's own process, for gateway+redis plus redis-server)\n${sat}\n\nThroughput ratios (over per-round ratios)\n${rat}`);
  }
  if (phases.has('latency')) {
    const lat = table(
      ['target', 'fixed p50', 'fixed p99', '+p50', '+p99', '1st chunk p50', '+p50', '+p99', 'last chunk p50'],
      names.map((n) => {
        const { fixed: x, stream: y } = s[n]!;
        return [n, f(x.p50), f(x.p99), f(x.addedP50), f(x.addedP99), f(y.firstP50), f(y.addedFirstP50), f(y.addedFirstP99), f(y.lastP50)];
      }),
    );
    parts.push(`Latency in ms at ${rate} req/s (open loop) and streamed one at a time; +: added over direct in the same round\n${lat}`);
  }
  return parts.join('\n\n');
}

export function checkLines(checks: Check[]): string {
  return checks
    .map((c) => `  ${c.pass ? 'PASS' : 'FAIL'}  ${c.name.padEnd(62)} ${(Number.isFinite(c.value) ? c.value.toFixed(c.unit === 'MB' ? 1 : 2) : '-').padStart(8)} ${c.unit.padEnd(3)} (target ${c.limit})`)
    .join('\n');
}
