import pino, { type Logger, type DestinationStream } from 'pino';

const SEVERITY: Record<string, string> = {
  trace: 'DEBUG', debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR', fatal: 'CRITICAL',
};

/**
 * Standard output through Node's own stream. Not pino.destination: sonic-boom's flushSync retries
 * a write that failed with EPIPE forever, so a gateway whose log reader went away (a closed pipe)
 * hung at exit. Node's stream reports EPIPE as an error event, which is ignored here: the lines are
 * lost, the gateway keeps serving and can always stop.
 */
function stdout(): DestinationStream {
  process.stdout.on('error', () => undefined);
  return process.stdout;
}

export function createLogger(level: string, destination: DestinationStream = stdout()): Logger {
  return pino(
    {
      level,
      base: { service: 'convergence-gateway' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Cloud Logging reads `severity`; pino's numeric `level` stays for everything else.
      formatters: { level: (label, number) => ({ level: number, severity: SEVERITY[label] ?? 'DEFAULT' }) },
      // Belt and braces: the code never logs a key, and these paths are cut if it ever tried.
      redact: { paths: ['api_key', 'key', 'headers.authorization', 'headers["x-api-key"]', 'req.headers.authorization', 'req.headers["x-api-key"]'], censor: '[redacted]' },
    },
    destination,
  );
}
