import { ConfigError, loadConfig } from './config.ts';
import { StartupError, startGateway } from './gateway.ts';
import { createLogger } from './log.ts';

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
    log.info({ signal }, 'shutting down: no new connections, finishing requests in flight');
    gateway.close().then(
      () => {
        log.info('shut down cleanly');
        log.flush?.();
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
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
