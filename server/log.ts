import pino, { type Logger, type DestinationStream } from 'pino';

const SEVERITY: Record<string, string> = {
  trace: 'DEBUG', debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR', fatal: 'CRITICAL',
};
/** Past this many characters of waiting lines, they are written at once rather than at the end of the turn. */
const BATCH_CHARS = 64 * 1024;

/**
 * Log lines written once per event-loop turn instead of once each. Standard output to a pipe or a
 * file is a synchronous write(2) in Node, and the access log writes a line per request: at
 * saturation a turn answers several requests, and one write for all of them saved about 5 µs of
 * CPU per request (docs/performance.md). Lines keep their order; whatever waits is written when
 * the process exits (an 'exit' listener, synchronous like the writes themselves).
 */
export class LineBatcher implements DestinationStream {
  private pending: string[] = [];
  private chars = 0;
  private scheduled = false;

  constructor(
    private readonly out: { write(text: string): unknown },
    private readonly later: (flush: () => void) => void = (f) => void setImmediate(f),
  ) {}

  write(line: string): void {
    this.pending.push(line);
    this.chars += line.length;
    if (this.chars >= BATCH_CHARS) return this.flush();
    if (!this.scheduled) {
      this.scheduled = true;
      this.later(this.flushLater);
    }
  }

  private readonly flushLater = (): void => {
    this.scheduled = false;
    this.flush();
  };

  flush(): void {
    if (this.pending.length === 0) return;
    const text = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    this.pending = [];
    this.chars = 0;
    this.out.write(text);
  }
}

/**
 * Standard output through Node's own stream. Not pino.destination: sonic-boom's flushSync retries
 * a write that failed with EPIPE forever, so a gateway whose log reader went away (a closed pipe)
 * hung at exit. Node's stream reports EPIPE as an error event, which is ignored here: the lines are
 * lost, the gateway keeps serving and can always stop.
 */
let shared: LineBatcher | null = null;
function stdout(): DestinationStream {
  // One for the process: every logger shares it, so lines stay in order and one 'exit' flushes all.
  if (shared) return shared;
  process.stdout.on('error', () => undefined);
  const batcher = new LineBatcher(process.stdout);
  process.on('exit', () => batcher.flush());
  shared = batcher;
  return batcher;
}

/**
 * pino's `isoTime`, formatting the date once a second rather than once a line: `toISOString`
 * cost about 6 µs a line in a profile of the access log (docs/performance.md). The text is the same.
 */
export function isoTimeCache(now: () => number = Date.now): () => string {
  let second = NaN;
  let prefix = '';
  return () => {
    const ms = Math.floor(now());
    const s = Math.floor(ms / 1000);
    if (s !== second) {
      second = s;
      prefix = `,"time":"${new Date(s * 1000).toISOString().slice(0, -4)}`;
    }
    const rest = ms - s * 1000;
    return `${prefix}${rest < 10 ? '00' : rest < 100 ? '0' : ''}${rest}Z"`;
  };
}

export function createLogger(level: string, destination: DestinationStream = stdout()): Logger {
  return pino(
    {
      level,
      base: { service: 'convergence-gateway' },
      timestamp: isoTimeCache(),
      // Cloud Logging reads `severity`; pino's numeric `level` stays for everything else.
      formatters: { level: (label, number) => ({ level: number, severity: SEVERITY[label] ?? 'DEFAULT' }) },
      // Belt and braces: the code never logs a key, and these paths are cut if it ever tried.
      redact: { paths: ['api_key', 'key', 'headers.authorization', 'headers["x-api-key"]', 'req.headers.authorization', 'req.headers["x-api-key"]'], censor: '[redacted]' },
    },
    destination,
  );
}
