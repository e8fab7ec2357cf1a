/** Medians over rounds, ratios taken within each round, the printed tables and the target checks. */
import { median } from './stats.ts';
import type { Round } from './targets.ts';

export interface TargetSummary {
  saturation: { rps: number; p50: number; p99: number; cpuUsPerRequest: number; non2xx: number; errors: number };
  fixed: { p50: number; p99: number; addedP50: number; addedP99: number; achievedRps: number; failed: number };
  stream: {
    firstP50: number; firstP99: number; lastP50: number; lastP99: number;
    addedFirstP50: number; addedFirstP99: number; addedLastP50: number; addedLastP99: number; failed: number;
  };
}

export type Ratios = Record<string, number>;

export interface Check {
  name: string;
  value: number;
  unit: string;
  limit: string;
  pass: boolean;
}

const DIRECT = 'direct';

/** Median over rounds of a figure; `f` may compare with the same round's other targets. */
function over(rounds: Round[], f: (r: Round) => number): number {
  return median(rounds.map(f));
}

function sum(rounds: Round[], f: (r: Round) => number): number {
  return rounds.reduce((acc, r) => acc + f(r), 0);
}

export function summarise(rounds: Round[], names: string[]): Record<string, TargetSummary> {
  const out: Record<string, TargetSummary> = {};
  for (const n of names) {
    const t = (r: Round) => r[n]!;
    const d = (r: Round) => r[DIRECT]!;
    out[n] = {
      saturation: {
        rps: over(rounds, (r) => t(r).saturation.rps),
        p50: over(rounds, (r) => t(r).saturation.p50),
        p99: over(rounds, (r) => t(r).saturation.p99),
        cpuUsPerRequest: over(rounds, (r) => t(r).saturation.cpuUsPerRequest ?? NaN),
        non2xx: sum(rounds, (r) => t(r).saturation.non2xx),
        errors: sum(rounds, (r) => t(r).saturation.errors),
      },
      fixed: {
        p50: over(rounds, (r) => t(r).fixed.p50),
        p99: over(rounds, (r) => t(r).fixed.p99),
        addedP50: over(rounds, (r) => t(r).fixed.p50 - d(r).fixed.p50),
        addedP99: over(rounds, (r) => t(r).fixed.p99 - d(r).fixed.p99),
        achievedRps: over(rounds, (r) => t(r).fixed.achievedRps),
        failed: sum(rounds, (r) => t(r).fixed.failed),
      },
      stream: {
        firstP50: over(rounds, (r) => t(r).stream.firstChunk.p50),
        firstP99: over(rounds, (r) => t(r).stream.firstChunk.p99),
        lastP50: over(rounds, (r) => t(r).stream.lastChunk.p50),
        lastP99: over(rounds, (r) => t(r).stream.lastChunk.p99),
        addedFirstP50: over(rounds, (r) => t(r).stream.firstChunk.p50 - d(r).stream.firstChunk.p50),
        addedFirstP99: over(rounds, (r) => t(r).stream.firstChunk.p99 - d(r).stream.firstChunk.p99),
        addedLastP50: over(rounds, (r) => t(r).stream.lastChunk.p50 - d(r).stream.lastChunk.p50),
        addedLastP99: over(rounds, (r) => t(r).stream.lastChunk.p99 - d(r).stream.lastChunk.p99),
        failed: sum(rounds, (r) => t(r).stream.failed),
      },
    };
  }
  return out;
}

/** Throughput ratios, each the median of the per-round ratio (drift cancels within a round). */
export function ratios(rounds: Round[]): Ratios {
  const rps = (r: Round, n: string) => r[n]!.saturation.rps;
  return {
    'gateway / node-proxy': over(rounds, (r) => rps(r, 'gateway') / rps(r, 'node-proxy')),
    'gateway+redis / gateway': over(rounds, (r) => rps(r, 'gateway+redis') / rps(r, 'gateway')),
    'node-proxy / direct': over(rounds, (r) => rps(r, 'node-proxy') / rps(r, DIRECT)),
    'gateway / direct': over(rounds, (r) => rps(r, 'gateway') / rps(r, DIRECT)),
    'gateway+redis / direct': over(rounds, (r) => rps(r, 'gateway+redis') / rps(r, DIRECT)),
  };
}

export function check(name: string, value: number, unit: string, op: '>=' | '<=' | '<', limit: number): Check {
  const pass = op === '>=' ? value >= limit : op === '<=' ? value <= limit : value < limit;
  return { name, value, unit, limit: `${op} ${limit}${unit ? ` ${unit}` : ''}`, pass: Number.isFinite(value) && pass };
}

export function mainChecks(s: Record<string, TargetSummary>, r: Ratios, coldStartMs: number, coldStartLabel: string): Check[] {
  const g = s.gateway!;
  return [
    check('saturation: gateway / node-proxy', r['gateway / node-proxy']!, '', '>=', 0.9),
    check('saturation: gateway+redis / gateway', r['gateway+redis / gateway']!, '', '>=', 0.8),
    check('1,000 req/s: gateway added p50', g.fixed.addedP50, 'ms', '<=', 0.5),
    check('1,000 req/s: gateway added p99', g.fixed.addedP99, 'ms', '<=', 2),
    check('streaming: gateway added time to first chunk (p50)', g.stream.addedFirstP50, 'ms', '<=', 1),
    check(`start to first served request (${coldStartLabel})`, coldStartMs, 'ms', '<', 1000),
  ];
}

const f = (v: number, digits = 2): string => (Number.isFinite(v) ? v.toFixed(digits) : '-');
const signed = (v: number): string => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(2)}` : '-');

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function mainTables(s: Record<string, TargetSummary>, r: Ratios, names: string[], rate: number): string {
  const sat = table(
    ['target', 'req/s', 'p50 ms', 'p99 ms', 'cpu us/req', 'x direct', 'non-2xx', 'errors'],
    names.map((n) => {
      const x = s[n]!.saturation;
      const ratio = n === DIRECT ? 1 : r[`${n} / direct`] ?? NaN;
      return [n, f(x.rps, 0), f(x.p50), f(x.p99), f(x.cpuUsPerRequest, 0), f(ratio), String(x.non2xx), String(x.errors)];
    }),
  );
  const lat = table(
    ['target', 'fixed p50', 'fixed p99', '+p50', '+p99', '1st chunk p50', '+p50', '+p99', 'last chunk p50', '+p50'],
    names.map((n) => {
      const { fixed: x, stream: y } = s[n]!;
      return [n, f(x.p50), f(x.p99), signed(x.addedP50), signed(x.addedP99), f(y.firstP50), signed(y.addedFirstP50), signed(y.addedFirstP99), f(y.lastP50), signed(y.addedLastP50)];
    }),
  );
  const rat = Object.entries(r).map(([k, v]) => `  ${k.padEnd(26)} ${f(v)}`).join('\n');
  return `Saturation (closed loop; cpu us/req: the target's own process, for gateway+redis plus redis-server)\n${sat}\n\nLatency in ms at ${rate} req/s (open loop) and streamed one at a time; +: added over direct in the same round\n${lat}\n\nThroughput ratios (median of per-round ratios)\n${rat}`;
}

export function checkLines(checks: Check[]): string {
  return checks
    .map((c) => `  ${c.pass ? 'PASS' : 'FAIL'}  ${c.name.padEnd(60)} ${f(c.value, c.unit === 'MB' ? 1 : 2).padStart(8)} ${c.unit.padEnd(3)} (target ${c.limit})`)
    .join('\n');
}
