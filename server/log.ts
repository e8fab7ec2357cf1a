import pino, { type Logger, type DestinationStream } from 'pino';

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'convergence-gateway' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Belt and braces: the code never logs a key, and these paths are cut if it ever tried.
      redact: { paths: ['api_key', 'key', 'headers.authorization', 'headers["x-api-key"]', 'req.headers.authorization', 'req.headers["x-api-key"]'], censor: '[redacted]' },
    },
    destination,
  );
}
