import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { LimiterStatus } from './types.ts';

const REDIS_PROBE_INTERVAL_MS = 1_000;

/**
 * Whether Redis is answering. Marked down on a connection error, a close or a timed-out command;
 * warns once per outage, probes until Redis answers again, then says so.
 */
export class RedisHealth {
  private downSince: number | null = null;
  private closed = false;
  private probe: NodeJS.Timeout | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly log: Logger,
  ) {
    redis.on('error', (err: Error) => this.markDown(err));
    redis.on('close', () => this.markDown(new Error('connection closed')));
  }

  /** Still connecting at start counts as not usable, without a warning (a failed connect warns via 'error'). */
  usable(): boolean {
    return this.downSince === null && this.redis.status === 'ready';
  }

  markDown(err: Error): void {
    if (this.downSince !== null || this.closed) return;
    this.downSince = Date.now();
    this.log.warn({ error: err.message }, 'Redis unavailable: rate limits are per replica until it is back');
    this.probe = setInterval(() => {
      this.redis.ping().then(() => this.markUp(), () => undefined);
    }, REDIS_PROBE_INTERVAL_MS);
    this.probe.unref();
  }

  private markUp(): void {
    if (this.downSince === null) return;
    const seconds = Math.round((Date.now() - this.downSince) / 1000);
    this.downSince = null;
    if (this.probe) clearInterval(this.probe);
    this.probe = null;
    this.log.info({ outage_seconds: seconds }, 'Redis is back: rate limits are shared again');
  }

  status(): LimiterStatus {
    return {
      backend: 'redis',
      redis: this.downSince === null ? 'ok' : 'unavailable',
      redis_unavailable_since: this.downSince === null ? null : new Date(this.downSince).toISOString(),
    };
  }

  close(): void {
    this.closed = true;
    if (this.probe) clearInterval(this.probe);
    this.redis.disconnect();
  }
}

/** Runs against the shared (Redis) limiter while Redis is usable, else against this replica's. */
export async function withFallback<T, R>(health: RedisHealth, shared: T, local: T, run: (limiter: T) => Promise<R>): Promise<R> {
  if (health.usable()) {
    try {
      return await run(shared);
    } catch (err) {
      health.markDown(err as Error);
    }
  }
  return run(local);
}
