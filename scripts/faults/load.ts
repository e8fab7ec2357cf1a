/** Steady chat load: a few workers, mixed plain answers and streams, until told to stop. */
import { chatBody, send, Tally, type Answer } from './traffic.ts';

export interface LoadOptions {
  urls: string[];
  workers: number;
  /** Every n-th request streams (0: none). */
  streamEvery: number;
  maxTokens: number;
  /** Stop after this many requests in all (a bound besides time). */
  maxRequests: number;
  onAnswer?: (a: Answer, ms: number) => void;
}

export interface Load {
  tally: Tally;
  /** Slowest answer in ms. */
  slowestMs: number;
  stop(): Promise<void>;
}

export function startLoad(opts: LoadOptions): Load {
  const tally = new Tally();
  let stopped = false;
  let n = 0;
  const load: Load = { tally, slowestMs: 0, stop: async () => undefined };
  const worker = async (): Promise<void> => {
    while (!stopped && n < opts.maxRequests) {
      const i = n++;
      const stream = opts.streamEvery > 0 && i % opts.streamEvery === 0;
      const t0 = Date.now();
      const a = await send(opts.urls[i % opts.urls.length]!, chatBody({ maxTokens: opts.maxTokens, stream, words: 3 + (i % 5) }), { timeoutMs: 30_000 });
      const ms = Date.now() - t0;
      load.slowestMs = Math.max(load.slowestMs, ms);
      tally.add(a);
      opts.onAnswer?.(a, ms);
    }
  };
  const running = Promise.all(Array.from({ length: opts.workers }, worker));
  load.stop = async () => {
    stopped = true;
    await running;
  };
  return load;
}
