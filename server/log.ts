import pino, { type Logger, type DestinationStream } from 'pino';

const SEVERITY: Record<string, string> = {
  trace: 'DEBUG', debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR', fatal: 'CRITICAL',
};

/** Log lines are written in batches of at least this many bytes (or on flush): no syscall per request. */
const LOG_BUFFER_BYTES = 4096;
/** At most this long between a line being logged and being written. */
const LOG_FLUSH_INTERVAL_MS = 250;

let stdoutDestination: ReturnType<typeof pino.destination> | null = null;

/**
 * Standard output, written asynchronously and in batches. A reader that goes away (a closed
 * pipe) loses the lines but never blocks or stops the gateway.
 */
function stdout(): DestinationStream {
  const dest = pino.destination({ dest: 1, sync: false, minLength: LOG_BUFFER_BYTES });
  dest.on('error', () => undefined);
  setInterval(() => dest.flush(), LOG_FLUSH_INTERVAL_MS).unref();
  stdoutDestination = dest;
  return dest;
}

/** Writes out buffered log lines; call before process.exit. */
export function flushLogs(): void {
  try {
    stdoutDestination?.flushSync();
  } catch {
    // nobody is reading: nothing to save
  }
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
