/**
 * In-process A/B of the default path's per-request bookkeeping, old way against new, in CPU time
 * (process.cpuUsage), which other load on the machine disturbs far less than throughput:
 *
 *   node --import tsx scripts/bench/micro.ts | cat >/dev/null     # the log goes into a pipe, as in production
 *
 * Results go to stderr. The "old" variants are the code before the change (pino's isoTime and
 * one write per line; prom-client label children), rebuilt here for the comparison.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import pino from 'pino';
import { createLogger } from '../../server/log.ts';
import { GatewayMetrics } from '../../server/metrics/metrics.ts';

const N = Number(process.env.MICRO_N ?? 200_000);
/** Lines per event-loop turn: at saturation a turn answers several requests. */
const PER_TURN = Number(process.env.MICRO_PER_TURN ?? 8);

async function cpuPerOp(label: string, op: (i: number) => void): Promise<number> {
  // Warm-up, then measured; a turn ends every PER_TURN operations so batched writes flush as they would.
  for (let i = 0; i < 20_000; i += 1) {
    op(i);
    if (i % PER_TURN === 0) await new Promise((r) => setImmediate(r));
  }
  const t0 = process.cpuUsage();
  for (let i = 0; i < N; i += 1) {
    op(i);
    if (i % PER_TURN === PER_TURN - 1) await new Promise((r) => setImmediate(r));
  }
  const used = process.cpuUsage(t0);
  const us = (used.user + used.system) / N;
  process.stderr.write(`${label.padEnd(44)} ${us.toFixed(2)} us/op\n`);
  return us;
}

const SEVERITY: Record<string, string> = { trace: 'DEBUG', debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR', fatal: 'CRITICAL' };
const REDACT = ['api_key', 'key', 'headers.authorization', 'headers["x-api-key"]', 'req.headers.authorization', 'req.headers["x-api-key"]'];
function oldLogger(): pino.Logger {
  return pino(
    {
      level: 'info',
      base: { service: 'convergence-gateway' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label, number) => ({ level: number, severity: SEVERITY[label] ?? 'DEFAULT' }) },
      redact: { paths: REDACT, censor: '[redacted]' },
    },
    process.stdout,
  );
}
const line = (i: number) => ({ method: 'POST', path: '/v1/chat/completions', status: 200, ms: 1.23, key_id: '0123456789abcdef', client: `bench-client-${i % 16}`, outcome: 'complete' });

const oldLog = oldLogger();
const newLog = createLogger('info');
// Interleaved twice each, so drift shows as disagreement between the pairs.
const logOld = [await cpuPerOp('access log, before (isoTime, a write per line)', (i) => oldLog.info(line(i), 'request'))];
const logNew = [await cpuPerOp('access log, after (cached time, a write per turn)', (i) => newLog.info(line(i), 'request'))];
logOld.push(await cpuPerOp('access log, before', (i) => oldLog.info(line(i), 'request')));
logNew.push(await cpuPerOp('access log, after', (i) => newLog.info(line(i), 'request')));

const registry = new Registry();
const requests = new Counter({ name: 'old_requests_total', help: 'x', labelNames: ['status', 'client'], registers: [registry] });
const duration = new Histogram({ name: 'old_duration_seconds', help: 'x', labelNames: ['outcome'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300], registers: [registry] });
const counters = new Map<string, Counter.Internal>();
const histograms = new Map<string, Histogram.Internal<'outcome'>>();
function oldObserve(status: number, client: string, outcome: string, seconds: number): void {
  const key = `${status}\u0000${client}`;
  let c = counters.get(key);
  if (!c) counters.set(key, (c = requests.labels({ status: String(status), client })));
  c.inc();
  let h = histograms.get(outcome);
  if (!h) histograms.set(outcome, (h = duration.labels({ outcome })));
  h.observe(seconds);
}
const metrics = new GatewayMetrics();
const metOld = [await cpuPerOp('metrics, before (prom-client label children)', (i) => oldObserve(200, `c${i % 16}`, 'complete', 0.004))];
const metNew = [await cpuPerOp('metrics, after (plain counts read at scrape)', (i) => metrics.observe(200, `c${i % 16}`, undefined, 0.004))];
metOld.push(await cpuPerOp('metrics, before', (i) => oldObserve(200, `c${i % 16}`, 'complete', 0.004)));
metNew.push(await cpuPerOp('metrics, after', (i) => metrics.observe(200, `c${i % 16}`, undefined, 0.004)));

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
process.stderr.write(`\nsaved per request: access log ${(mean(logOld) - mean(logNew)).toFixed(2)} us, metrics ${(mean(metOld) - mean(metNew)).toFixed(2)} us (${PER_TURN} requests per event-loop turn)\n`);
process.exit(0);
