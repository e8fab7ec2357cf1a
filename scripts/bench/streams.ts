/**
 * The streaming phase: many concurrent SSE streams held open at once, as an inference server is
 * loaded (hundreds of sequences, a token every 20 ms each). The client is undici's dispatch API on
 * a pool with one connection per stream, so 1,000 streams cost it little; every arrival is time
 * stamped, and events are counted by their `data: ` lines.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { CHAT_PATH } from './load.ts';
import { latency, type Latency } from './stats.ts';

export interface StreamLoad {
  streams: number;
  /** Content chunks asked of the stand-in per stream (`max_tokens`). */
  chunks: number;
  timeoutMs: number;
}

export interface StreamLoadResult {
  streams: number;
  ok: number;
  failed: number;
  /** Content events received (every `data:` event but `[DONE]`): the tokens the clients saw. */
  events: number;
  wallMs: number;
  chunksPerSecond: number;
  /** Time between consecutive events of one stream; events that arrived together count as 0. */
  gap: Latency;
  /** From sending a request to its first body bytes. */
  firstChunk: Latency;
}

const DATA = Buffer.from('data: ');
const DONE = Buffer.from('data: [DONE]');

/** Counts SSE `data:` events in a chunk, and whether one was `[DONE]`. */
export function countEvents(chunk: Buffer): { events: number; done: boolean } {
  let events = 0;
  let at = chunk.indexOf(DATA);
  while (at !== -1) {
    events += 1;
    at = chunk.indexOf(DATA, at + DATA.length);
  }
  const done = chunk.includes(DONE);
  return { events: done ? events - 1 : events, done };
}

/** A growable array of float samples (100,000 gaps without a JS array of boxed numbers). */
export class Samples {
  private data = new Float64Array(1024);
  length = 0;

  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }

  view(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

export function streamBody(chunks: number): string {
  return JSON.stringify({ model: 'demo-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: chunks, stream: true });
}

/** Opens `load.streams` streams at once against `baseUrl` and waits for all to end (or time out). */
export async function holdStreams(baseUrl: string, keys: readonly string[], load: StreamLoad): Promise<StreamLoadResult> {
  const pool = new Pool(baseUrl, { connections: load.streams, pipelining: 1, bodyTimeout: 0, headersTimeout: load.timeoutMs });
  const body = streamBody(load.chunks);
  const gaps = new Samples();
  const firsts = new Samples();
  let ok = 0;
  let failed = 0;
  let events = 0;
  const start = performance.now();
  let lastEnd = start;
  const one = (key: string): Promise<void> =>
    new Promise((resolve) => {
      const t0 = performance.now();
      let status = 0;
      let last = NaN;
      let sawDone = false;
      pool.dispatch(
        { path: CHAT_PATH, method: 'POST', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` } },
        {
          onRequestStart() {},
          onResponseStart(_c, statusCode) {
            status = statusCode;
          },
          onResponseData(_c, chunk) {
            const t = performance.now();
            const n = countEvents(chunk);
            if (Number.isNaN(last)) firsts.push(t - t0);
            else if (n.events > 0) gaps.push(t - last);
            for (let i = 1; i < n.events; i += 1) gaps.push(0);
            if (n.events > 0) last = t;
            events += n.events;
            sawDone ||= n.done;
            if (Number.isNaN(last)) last = t;
          },
          onResponseEnd() {
            if (status === 200 && sawDone) ok += 1;
            else failed += 1;
            lastEnd = Math.max(lastEnd, performance.now());
            resolve();
          },
          onResponseError() {
            failed += 1;
            resolve();
          },
        },
      );
    });
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), load.timeoutMs).unref());
  const all = Promise.all(Array.from({ length: load.streams }, (_, i) => one(keys[i % keys.length]!)));
  const outcome = await Promise.race([all, timeout]);
  await pool.destroy().catch(() => undefined);
  if (outcome === 'timeout') failed = load.streams - ok;
  const wallMs = lastEnd - start;
  return {
    streams: load.streams,
    ok,
    failed,
    events,
    wallMs,
    chunksPerSecond: wallMs > 0 ? (events * 1000) / wallMs : NaN,
    gap: latency(gaps.view()),
    firstChunk: latency(firsts.view()),
  };
}
