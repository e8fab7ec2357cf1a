import { afterEach, describe, expect, it } from 'vitest';
import { bearer, startStack, type Stack } from '../support/stack.ts';

const KEY = 'sk-convergence-99999999-0000-4000-8000-000000000001';
const ADMIN = 'admin-key-for-metrics-tests';

let stack: Stack | null = null;
afterEach(async () => {
  await stack?.close();
  stack = null;
});

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  if (!line) throw new Error(`no series ${series}`);
  return Number(line.slice(series.length + 1));
}

describe('/metrics', () => {
  it('is served behind ADMIN_API_KEY on the gateway port, with the gateway series', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, 2]], env: { ADMIN_API_KEY: ADMIN } });
    for (let i = 0; i < 3; i += 1) await fetch(`${stack.url}/v1/models`, { headers: bearer(KEY) });
    await fetch(`${stack.url}/v1/models`, { headers: bearer('sk-convergence-unknown-key-0000') });
    stack.sheets.fail(500, 1);
    await stack.gateway.auth.store!.reload().catch(() => undefined);

    expect((await fetch(`${stack.url}/metrics`)).status).toBe(403);
    expect((await fetch(`${stack.url}/metrics`, { headers: bearer(KEY) })).status).toBe(403);
    const res = await fetch(`${stack.url}/metrics`, { headers: bearer(ADMIN) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(value(text, 'cg_requests_total{status="200",client="Acme"}')).toBe(2);
    expect(value(text, 'cg_requests_total{status="429",client="Acme"}')).toBe(1);
    expect(value(text, 'cg_requests_total{status="401",client=""}')).toBe(1);
    expect(value(text, 'cg_rate_limited_total{limit="requests"}')).toBe(1);
    expect(value(text, 'cg_key_reloads_total{result="success"}')).toBe(1);
    expect(value(text, 'cg_key_reloads_total{result="failure"}')).toBe(1);
    expect(value(text, 'cg_keys_loaded')).toBe(1);
    expect(value(text, 'cg_key_set_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(value(text, 'cg_request_duration_seconds_count{outcome="complete"}')).toBe(2);
    expect(text).toContain('process_resident_memory_bytes');
    expect(text).not.toContain('cg_redis_up');
    expect(stack.vllm.requests.some((r) => r.url === '/metrics')).toBe(false);
    expect(text).not.toContain(KEY);
  });

  it('counts upstream errors', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']], env: { ADMIN_API_KEY: ADMIN } });
    await stack.vllm.close();
    expect((await fetch(`${stack.url}/v1/models`, { headers: bearer(KEY) })).status).toBe(502);
    const text = await (await fetch(`${stack.url}/metrics`, { headers: bearer(ADMIN) })).text();
    expect(value(text, 'cg_upstream_errors_total{kind="upstream_unavailable"}')).toBe(1);
  });

  it('moves to a port of its own with METRICS_PORT, and is then gone from the public port', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']], env: { METRICS_PORT: '0', ADMIN_API_KEY: ADMIN } });
    const { port } = stack.gateway.metricsServer!.address() as { port: number };
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('cg_requests_total');
    expect((await fetch(`${stack.url}/metrics`, { headers: bearer(ADMIN) })).status).toBe(404);
  });
});
