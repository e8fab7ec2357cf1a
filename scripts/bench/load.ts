/**
 * The load patterns: saturation (autocannon, closed loop), a paced open-loop fixed rate, and
 * sequential streaming requests timed to first and last chunk. Latencies are kept as floats in
 * ms: autocannon's own histogram has 1 ms resolution, too coarse for sub-millisecond "added" figures.
 */
import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { latency, type Latency } from './stats.ts';

export const CHAT_PATH = '/v1/chat/completions';
const JSON_BODY = JSON.stringify({ model: 'demo-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 });
const STREAM_BODY = JSON.stringify({ model: 'demo-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, stream: true });
/** Time a paced run may take beyond its schedule for answers still in flight. */
const DRAIN_TIMEOUT_MS = 10_000;
const STREAM_REQUEST_TIMEOUT_MS = 10_000;

export interface Req {
  method: 'POST';
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** Non-streaming chat requests, one per key, so the load rotates over the keys. */
export function chatRequests(keys: readonly string[], body = JSON_BODY): Req[] {
  return keys.map((key) => ({
    method: 'POST',
    path: CHAT_PATH,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body,
  }));
}

export interface SaturationResult extends Latency {
  rps: number;
  ok: number;
  non2xx: number;
  errors: number;
}

/** Closed loop: `connections` clients each sending the next request as soon as one is answered. */
export async function saturate(url: string, reqs: Req[], connections: number, seconds: number): Promise<SaturationResult> {
  const samples: number[] = [];
  let ok = 0;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ url, connections, duration: seconds, requests: reqs }, (err, res) => (err ? reject(err) : resolve(res)));
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status >= 200 && status < 300) {
        ok += 1;
        samples.push(ms);
      }
    });
  });
  return { rps: ok / result.duration, ok, non2xx: result.non2xx, errors: result.errors + result.timeouts, ...latency(samples) };
}

export interface PacedResult extends Latency {
  sent: number;
  ok: number;
  failed: number;
  /** Answers per second actually achieved over the schedule. */
  achievedRps: number;
}

/**
 * Open loop at a fixed rate: requests leave on schedule whatever the answers do, checked every
 * millisecond (autocannon's `overallRate` instead sends each connection's quota for the second
 * back to back at the top of the second, which measures bursts, not a rate). Latency runs from
 * the moment a request is handed to the client to its last body byte.
 */
export async function paced(url: string, reqs: Req[], rate: number, durationMs: number, connections = 32): Promise<PacedResult> {
  const pool = new Pool(url, { connections, pipelining: 1 });
  const total = Math.round((rate * durationMs) / 1000);
  const samples: number[] = [];
  let sent = 0;
  let settled = 0;
  let ok = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const deadline = setTimeout(resolve, durationMs + DRAIN_TIMEOUT_MS);
    const done = (): void => {
      settled += 1;
      if (settled === total) {
        clearTimeout(deadline);
        resolve();
      }
    };
    const fire = (r: Req): void => {
      const t0 = performance.now();
      pool
        .request({ method: r.method, path: r.path, headers: r.headers, body: r.body })
        .then(async (res) => {
          await res.body.arrayBuffer();
          if (res.statusCode >= 200 && res.statusCode < 300) {
            ok += 1;
            samples.push(performance.now() - t0);
          }
        })
        .catch(() => undefined)
        .finally(done);
    };
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000));
      while (sent < due) fire(reqs[sent++ % reqs.length]!);
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  const elapsed = performance.now() - start;
  await pool.destroy().catch(() => undefined);
  return { sent, ok, failed: sent - ok, achievedRps: (ok * 1000) / elapsed, ...latency(samples) };
}

export interface StreamResult {
  firstChunk: Latency;
  lastChunk: Latency;
  ok: number;
  failed: number;
}

interface StreamTiming {
  status: number;
  first: number;
  last: number;
}

function oneStream(url: URL, agent: Agent, key: string): Promise<StreamTiming> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = httpRequest(
      { host: url.hostname, port: url.port, path: CHAT_PATH, method: 'POST', agent, timeout: STREAM_REQUEST_TIMEOUT_MS,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'content-length': Buffer.byteLength(STREAM_BODY) } },
      (res) => {
        let first = NaN;
        res.on('data', () => {
          if (Number.isNaN(first)) first = performance.now() - t0;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, first, last: performance.now() - t0 }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('stream request timed out')));
    req.on('error', reject);
    req.end(STREAM_BODY);
  });
}

/** Sequential streamed chat requests on one keep-alive connection: time to first and last body chunk. */
export async function streaming(baseUrl: string, keys: readonly string[], count: number): Promise<StreamResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = new URL(baseUrl);
  const first: number[] = [];
  const last: number[] = [];
  let failed = 0;
  try {
    for (let i = 0; i < count; i += 1) {
      const t = await oneStream(url, agent, keys[i % keys.length]!).catch(() => null);
      if (t === null || t.status !== 200) {
        failed += 1;
        continue;
      }
      first.push(t.first);
      last.push(t.last);
    }
  } finally {
    agent.destroy();
  }
  return { firstChunk: latency(first), lastChunk: latency(last), ok: first.length, failed };
}

/** One request with a fresh connection; resolves with the status, or 0 when it could not connect. */
export function probe(baseUrl: string, req: Req, timeoutMs: number): Promise<number> {
  const url = new URL(baseUrl);
  return new Promise((resolve) => {
    const r = httpRequest(
      { host: url.hostname, port: url.port, path: req.path, method: req.method, agent: false, timeout: timeoutMs,
        headers: { ...req.headers, 'content-length': String(Buffer.byteLength(req.body)) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      },
    );
    r.on('timeout', () => r.destroy());
    r.on('error', () => resolve(0));
    r.end(req.body);
  });
}
