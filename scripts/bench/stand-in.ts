/**
 * Benchmark entry: the stand-in vLLM in its own process. Env: CHUNK_DELAY_MS (default 1).
 * Prints one JSON line `{"url": ...}` on stdout when listening; answers `stats` on its control
 * channel with what it generated (see control.ts).
 */
import { startFakeVllm } from '../fake-vllm.ts';
import { serveControl } from './control.ts';

const vllm = await startFakeVllm({ port: 0, chunkDelayMs: Number(process.env.CHUNK_DELAY_MS ?? 1) });
process.stdout.write(`${JSON.stringify({ url: vllm.url })}\n`);
serveControl({
  stats: () => ({ tokensSent: vllm.tokens.completion_tokens, completedStreams: vllm.completedStreams, abortedStreams: vllm.abortedStreams }),
});
const stop = (): void => void vllm.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
