/**
 * Benchmark entry: the gateway in its own process, configured from the environment exactly as
 * server/main.ts is, logging to stdout as in production. Prints one JSON line on stdout once the
 * first key load has been tried: `{"url", "ready_ms", "keys_loaded"}` (ready_ms: process start to
 * key set loaded). On its control channel (control.ts), `flush` writes the usage ledger to the
 * usage file beside KEYS_FILE now, so the bench can compare tokens metered with tokens generated;
 * with BENCH_PROFILE_FILE set, `profile-start`/`profile-stop` run V8's CPU profiler.
 */
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../../server/config.ts';
import { startGateway } from '../../server/gateway.ts';
import { createLogger } from '../../server/log.ts';
import { profilerCommands, serveControl } from './control.ts';

const config = loadConfig(process.env);
const gateway = await startGateway(config, createLogger(config.LOG_LEVEL));
await gateway.ready;
const readyMs = performance.now(); // performance.now() counts from process start
const keysLoaded = gateway.auth.store?.status().keysLoaded ?? 0;
process.stdout.write(`${JSON.stringify({ url: gateway.url, ready_ms: readyMs, keys_loaded: keysLoaded })}\n`);
serveControl({
  flush: async () => ({ flushed: (await gateway.usage?.flush()) ?? null }),
  ...(process.env.BENCH_PROFILE_FILE ? await profilerCommands() : {}),
});
// A benchmark has nothing in flight worth waiting for on shutdown.
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
