import { ConfigError, loadConfig } from './config.ts';
import { StartupError, startGateway } from './gateway.ts';
import { createLogger } from './log.ts';

/** Beyond SHUTDOWN_GRACE: time for the last usage flush (three tries) before a forced exit. */
const SHUTDOWN_MARGIN_SECONDS = 60;

/** Composition root: the only place that reads the environment and the process's signals. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`convergence-gateway: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.LOG_LEVEL);
  let gateway;
  try {
    gateway = await startGateway(config, log);
  } catch (err) {
    if (err instanceof StartupError) {
      log.fatal(err.message);
      process.stderr.write(`convergence-gateway: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    // Whatever happens below, the process ends: grace, three flush attempts, then a hard stop.
    setTimeout(() => process.exit(1), (config.SHUTDOWN_GRACE + SHUTDOWN_MARGIN_SECONDS) * 1000).unref();
    const say = (write: () => void): void => {
      try {
        write();
      } catch {
        // logging is best effort while stopping
      }
    };
    say(() => log.info({ signal }, 'shutting down: no new connections, finishing requests in flight'));
    gateway.close().then(
      () => {
        say(() => log.info('shut down cleanly'));
        process.exit(0);
      },
      (err: unknown) => {
        say(() => log.error({ err }, 'shutdown failed'));
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`convergence-gateway: fatal: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
