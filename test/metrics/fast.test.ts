import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FastCounter, FastHistogram } from '../../server/metrics/fast.ts';

const BUCKETS = [0.001, 0.01, 0.1, 1, 10];
// On a bound, between bounds, below the first, above the last, zero, and repeats.
const OBSERVATIONS: Array<[string, number]> = [
  ['complete', 0.001], ['complete', 0.0005], ['complete', 0.05], ['client_aborted', 12], ['complete', 0],
  ['upstream_failed', 1], ['complete', 0.05], ['client_aborted', 0.1], ['complete', 9.99],
];
const REQUESTS: Array<[number, string]> = [[200, 'alice'], [200, 'alice'], [401, ''], [200, 'bob "the" \\ builder\n'], [429, 'alice'], [200, 'alice']];

function reference(): Registry {
  const registry = new Registry();
  const registers = [registry];
  const c = new Counter({ name: 'cg_requests_total', help: 'Requests', labelNames: ['status', 'client'], registers });
  const h = new Histogram({ name: 'cg_request_duration_seconds', help: 'Time', labelNames: ['outcome'], buckets: BUCKETS, registers });
  for (const [status, client] of REQUESTS) c.labels({ status: String(status), client }).inc();
  for (const [outcome, v] of OBSERVATIONS) h.labels({ outcome }).observe(v);
  return registry;
}

function fast(): Registry {
  const registry = new Registry();
  const registers = [registry];
  const c = new FastCounter({ name: 'cg_requests_total', help: 'Requests', labelNames: ['status', 'client'], registers });
  const h = new FastHistogram({ name: 'cg_request_duration_seconds', help: 'Time', labelName: 'outcome', buckets: BUCKETS, registers });
  for (const [status, client] of REQUESTS) c.inc(status, client);
  for (const [outcome, v] of OBSERVATIONS) h.observe(outcome, v);
  return registry;
}

describe('fast per-request metrics', () => {
  it('print the same exposition text as prom-client Counter and Histogram', async () => {
    const expected = await reference().metrics();
    expect(expected).toContain('cg_request_duration_seconds_bucket{le="0.001",outcome="complete"} 3');
    expect(await fast().metrics()).toBe(expected);
  });

  it('give the same JSON as prom-client', async () => {
    expect(await fast().getMetricsAsJSON()).toEqual(await reference().getMetricsAsJSON());
  });

  it('keep counting across scrapes without counting twice', async () => {
    const registry = new Registry();
    const c = new FastCounter({ name: 'x_total', help: 'x', labelNames: ['status', 'client'], registers: [registry] });
    c.inc(200, 'a');
    await registry.metrics();
    c.inc(200, 'a');
    c.inc(200, 'a');
    expect(await registry.metrics()).toContain('x_total{status="200",client="a"} 3');
    expect(await registry.metrics()).toContain('x_total{status="200",client="a"} 3');
  });
});
