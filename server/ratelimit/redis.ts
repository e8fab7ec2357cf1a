import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { MemoryRateLimiter } from './memory.ts';
import { SLIDING_WINDOW_LUA } from './script.ts';
import type { LimiterStatus, RateLimitDecision, RateLimiter } from './types.ts';

/** A check slower than this counts as Redis being unavailable for this request. */
export const REDIS_COMMAND_TIMEOUT_MS = 250;
const REDIS_PROBE_INTERVAL_MS = 1_000;
const KEY_PREFIX = 'cg:rl:';

type WindowReply = [number, number, number];
interface RedisWithWindow extends Redis {
  cgSlidingWindow(key: string, windowMs: number, limit: number, member: string): Promise<WindowReply>;
}

/** A connection that fails fast instead of queueing when Redis is away, and keeps reconnecting. */
export function connectRedis(url: string): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
}

/** The shared sliding window: one atomic Lua script per check (EVALSHA, EVAL on NOSCRIPT). */
export class RedisRateLimiter implements RateLimiter {
  private readonly redis: RedisWithWindow;
  private readonly nonce = randomBytes(6).toString('hex');
  private seq = 0;

  constructor(redis: Redis) {
    // ioredis sends EVALSHA and falls back to EVAL when Redis answers NOSCRIPT (after a restart).
    redis.defineCommand('cgSlidingWindow', { numberOfKeys: 1, lua: SLIDING_WINDOW_LUA });
    this.redis = redis as RedisWithWindow;
  }

  async check(id: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    this.seq += 1;
    const [admitted, remaining, reset] = await this.redis.cgSlidingWindow(KEY_PREFIX + id, windowMs, limit, `${this.nonce}:${this.seq}`);
    return { allowed: admitted === 1, limit, remaining, resetMs: reset };
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

/**
 * Redis while it answers, this replica's memory while it does not. Warns once per outage,
 * probes until Redis is back, then shares limits again.
 */
export class FallbackRateLimiter implements RateLimiter {
  private downSince: number | null = null;
  private closed = false;
  private probe: NodeJS.Timeout | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly shared: RedisRateLimiter,
    private readonly local: MemoryRateLimiter,
    private readonly log: Logger,
  ) {
    redis.on('error', (err: Error) => this.markDown(err));
    redis.on('close', () => this.markDown(new Error('connection closed')));
  }

  async check(id: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    // Still connecting at start: this replica's memory until Redis is ready (a failed connect warns via 'error').
    if (this.downSince === null && this.redis.status === 'ready') {
      try {
        return await this.shared.check(id, limit, windowMs);
      } catch (err) {
        this.markDown(err as Error);
      }
    }
    return this.local.checkSync(id, limit, windowMs);
  }

  status(): LimiterStatus {
    return {
      backend: 'redis',
      redis: this.downSince === null ? 'ok' : 'unavailable',
      redis_unavailable_since: this.downSince === null ? null : new Date(this.downSince).toISOString(),
    };
  }

  private markDown(err: Error): void {
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

  async close(): Promise<void> {
    this.closed = true;
    if (this.probe) clearInterval(this.probe);
    await this.shared.close();
    await this.local.close();
  }
}
