import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { withFallback, type RedisHealth } from './health.ts';
import type { MemoryRateLimiter } from './memory.ts';
import { SLIDING_WINDOW_LUA, TOKEN_CHECK_LUA, TOKEN_RECORD_LUA } from './script.ts';
import type { MemoryTokenLimiter } from './tokens-memory.ts';
import type { RateLimitDecision, RateLimiter, TokenLimiter } from './types.ts';

/** A check slower than this counts as Redis being unavailable for this request. */
export const REDIS_COMMAND_TIMEOUT_MS = 250;

type Reply = [number, number, number];
interface RedisWithScripts extends Redis {
  cgSlidingWindow(key: string, windowMs: number, limit: number, member: string): Promise<Reply>;
  cgTokenCheck(set: string, sum: string, windowMs: number, limit: number): Promise<Reply>;
  cgTokenRecord(set: string, sum: string, windowMs: number, member: string, tokens: number): Promise<number>;
}

/**
 * A connection that fails fast instead of queueing when Redis is away, keeps reconnecting, and
 * knows the gateway's scripts (ioredis sends EVALSHA, and EVAL when Redis answers NOSCRIPT).
 */
export function connectRedis(url: string): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    // Checks issued in the same tick share one write to Redis: fewer syscalls under load.
    enableAutoPipelining: true,
  });
  redis.defineCommand('cgSlidingWindow', { numberOfKeys: 1, lua: SLIDING_WINDOW_LUA });
  redis.defineCommand('cgTokenCheck', { numberOfKeys: 2, lua: TOKEN_CHECK_LUA });
  redis.defineCommand('cgTokenRecord', { numberOfKeys: 2, lua: TOKEN_RECORD_LUA });
  return redis;
}

/** Members must be unique per request across replicas: a random per-process prefix and a counter. */
class Nonce {
  private readonly prefix = randomBytes(6).toString('hex');
  private seq = 0;
  next(): string {
    this.seq += 1;
    return `${this.prefix}.${this.seq}`;
  }
}

/** The shared request window: one atomic Lua script per check. */
export class RedisRateLimiter implements RateLimiter {
  private readonly nonce = new Nonce();

  constructor(private readonly redis: Redis) {}

  async check(id: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    const [admitted, remaining, reset] = await (this.redis as RedisWithScripts).cgSlidingWindow(`cg:rl:${id}`, windowMs, limit, this.nonce.next());
    return { allowed: admitted === 1, limit, remaining, resetMs: reset };
  }

  async close(): Promise<void> {}
}

/** The shared token window: a check script before the request, a record script after the answer. */
export class RedisTokenLimiter implements TokenLimiter {
  private readonly nonce = new Nonce();

  constructor(private readonly redis: Redis) {}

  private keys(id: string): [string, string] {
    return [`cg:tpm:{${id}}:set`, `cg:tpm:{${id}}:sum`];
  }

  async check(id: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    const [set, sum] = this.keys(id);
    const [admitted, remaining, reset] = await (this.redis as RedisWithScripts).cgTokenCheck(set, sum, windowMs, limit);
    return { allowed: admitted === 1, limit, remaining, resetMs: reset };
  }

  async record(id: string, tokens: number, windowMs: number): Promise<void> {
    if (tokens <= 0) return;
    const [set, sum] = this.keys(id);
    await (this.redis as RedisWithScripts).cgTokenRecord(set, sum, windowMs, `${this.nonce.next()}:${tokens}`, tokens);
  }

  async close(): Promise<void> {}
}

/** Redis while it answers, this replica's memory while it does not. */
export class FallbackRateLimiter implements RateLimiter {
  constructor(
    private readonly health: RedisHealth,
    private readonly shared: RedisRateLimiter,
    private readonly local: MemoryRateLimiter,
  ) {}

  check(id: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    return withFallback<RateLimiter, RateLimitDecision>(this.health, this.shared, this.local, (l) => l.check(id, limit, windowMs));
  }

  async close(): Promise<void> {
    await this.local.close();
  }
}

export class FallbackTokenLimiter implements TokenLimiter {
  constructor(
    private readonly health: RedisHealth,
    private readonly shared: RedisTokenLimiter,
    private readonly local: MemoryTokenLimiter,
  ) {}

  check(id: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    return withFallback<TokenLimiter, RateLimitDecision>(this.health, this.shared, this.local, (l) => l.check(id, limit, windowMs));
  }

  record(id: string, tokens: number, windowMs: number): Promise<void> {
    return withFallback<TokenLimiter, void>(this.health, this.shared, this.local, (l) => l.record(id, tokens, windowMs));
  }

  async close(): Promise<void> {
    await this.local.close();
  }
}
