/**
 * The stand-in vLLM in a process of its own, for scenario 3: with 200 clients in the suite's
 * process, an in-process stand-in would notice a cut stream late and count tokens made after the
 * gateway hung up. Env: CHUNK_DELAY_MS. Prints `{"url": ...}`; answers `tokens` on its control
 * channel (scripts/bench/control.ts).
 */
import { startFakeVllm } from '../fake-vllm.ts';
import { serveControl } from '../bench/control.ts';

const vllm = await startFakeVllm({ port: 0, chunkDelayMs: Number(process.env.CHUNK_DELAY_MS ?? 100) });
process.stdout.write(`${JSON.stringify({ url: vllm.url })}\n`);
serveControl({
  tokens: () => ({
    prompt_tokens: vllm.tokens.prompt_tokens,
    completion_tokens: vllm.tokens.completion_tokens,
    completedStreams: vllm.completedStreams,
    abortedStreams: vllm.abortedStreams,
    opsCalls: vllm.opsCalls.length,
  }),
});
const stop = (): void => void vllm.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
