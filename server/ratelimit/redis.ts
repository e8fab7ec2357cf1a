import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { withFallback, type RedisHealth } from './health.ts';
import type { MemoryRateLimiter } from './memory.ts';
import { REQUEST_PEEK_LUA, SLIDING_WINDOW_LUA, TOKEN_RESERVE_LUA, TOKEN_SETTLE_LUA } from './script.ts';
import type { MemoryTokenLimiter } from './tokens-memory.ts';
import { RESERVATION_TTL_MS, RESERVED_RETRY_MS, type RateLimitDecision, type RateLimiter, type TokenDecision, type TokenLimiter } from './types.ts';

/** A check slower than this counts as Redis being unavailable for this request. */
export const REDIS_COMMAND_TIMEOUT_MS = 250;

type Reply = [number, number, number];
interface RedisWithScripts extends Redis {
  /** `numberOfKeys, ...keys, ...args` (see SLIDING_WINDOW_LUA); three numbers per check. */
  cgSlidingWindow(...numberOfKeysKeysAndArgs: Array<string | number>): Promise<number[]>;
  cgTokenReserve(set: string, sum: string, held: string, windowMs: number, limit: number, tokens: number, member: string, ttlMs: number, retryMs: number): Promise<Reply>;
  cgTokenSettle(set: string, sum: string, held: string, windowMs: number, reservation: string, member: string, tokens: number): Promise<number>;
  cgRequestPeek(key: string, windowMs: number): Promise<[number, number]>;
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
    // No auto-pipelining: request checks batch themselves (one script run per event-loop
    // turn), and a pipeline per command costs more than it saves for the rest.
    enableAutoPipelining: false,
  });
  // No numberOfKeys: a batch names its own count, as the first argument.
  redis.defineCommand('cgSlidingWindow', { lua: SLIDING_WINDOW_LUA });
  redis.defineCommand('cgTokenReserve', { numberOfKeys: 3, lua: TOKEN_RESERVE_LUA });
  redis.defineCommand('cgTokenSettle', { numberOfKeys: 3, lua: TOKEN_SETTLE_LUA });
  redis.defineCommand('cgRequestPeek', { numberOfKeys: 1, lua: REQUEST_PEEK_LUA });
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

/**
 * Where a key's request window lives. "v2": a list of times (the first version, `cg:rl:`, was a
 * sorted set), so replicas of both versions running at once during an upgrade never trip on each
 * other's type; for that moment each version counts only its own requests.
 */
export const REQUEST_WINDOW_PREFIX = 'cg:rl:v2:';

/** Most checks one script run decides: bounds how long one run holds Redis (a few µs a check). */
export const MAX_CHECKS_PER_RUN = 128;

interface QueuedCheck {
  key: string;
  limit: number;
  windowMs: number;
  resolve: (decision: RateLimitDecision) => void;
  reject: (err: unknown) => void;
}

/**
 * The shared request window. Checks queue until the event loop's current turn ends
 * (setImmediate), then one atomic script run decides them all: under load that is one socket
 * write, one round trip and one reply for many requests instead of one each, which was most of
 * what Redis cost a request. An idle gateway's single check waits for no other.
 */
export class RedisRateLimiter implements RateLimiter {
  private queue: QueuedCheck[] = [];
  private scheduled = false;

  constructor(private readonly redis: Redis) {}

  check(id: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    return new Promise((resolve, reject) => {
      this.queue.push({ key: `${REQUEST_WINDOW_PREFIX}${id}`, limit, windowMs, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const queued = this.queue;
    this.queue = [];
    for (let i = 0; i < queued.length; i += MAX_CHECKS_PER_RUN) this.run(queued.slice(i, i + MAX_CHECKS_PER_RUN));
  };

  private run(batch: QueuedCheck[]): void {
    const args: Array<string | number> = [batch.length];
    for (const c of batch) args.push(c.key);
    for (const c of batch) args.push(c.windowMs, c.limit);
    (this.redis as RedisWithScripts).cgSlidingWindow(...args).then(
      (reply) => {
        for (let i = 0; i < batch.length; i += 1) {
          const c = batch[i]!;
          c.resolve({ allowed: reply[3 * i] === 1, limit: c.limit, remaining: reply[3 * i + 1]!, resetMs: reply[3 * i + 2]! });
        }
      },
      (err: unknown) => {
        for (const c of batch) c.reject(err);
      },
    );
  }

  async peek(id: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    const [used, resetMs] = await (this.redis as RedisWithScripts).cgRequestPeek(`${REQUEST_WINDOW_PREFIX}${id}`, windowMs);
    return { allowed: used < limit, limit, remaining: Math.max(0, limit - used), resetMs };
  }

  async close(): Promise<void> {}
}

/** The shared token window: a reserve script at admission, a settle script when the answer ended. */
export class RedisTokenLimiter implements TokenLimiter {
  private readonly nonce = new Nonce();

  constructor(private readonly redis: Redis) {}

  private keys(id: string): [string, string, string] {
    return [`cg:tpm:{${id}}:set`, `cg:tpm:{${id}}:sum`, `cg:tpm:{${id}}:held`];
  }

  async reserve(id: string, limit: number, windowMs: number, tokens: number): Promise<TokenDecision> {
    const [set, sum, held] = this.keys(id);
    const member = `${this.nonce.next()}:${tokens}`;
    const [admitted, remaining, reset] = await (this.redis as RedisWithScripts).cgTokenReserve(set, sum, held, windowMs, limit, tokens, member, RESERVATION_TTL_MS, RESERVED_RETRY_MS);
    const allowed = admitted === 1;
    return { allowed, limit, remaining, resetMs: reset, reservation: allowed && tokens > 0 ? member : null };
  }

  /** A reservation of 0 tokens holds nothing (the script only forgets what left the window): it is the peek. */
  peek(id: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    return this.reserve(id, limit, windowMs, 0);
  }

  async settle(id: string, reservation: string | null, spent: number, windowMs: number): Promise<void> {
    if (reservation === null && spent <= 0) return;
    const [set, sum, held] = this.keys(id);
    await (this.redis as RedisWithScripts).cgTokenSettle(set, sum, held, windowMs, reservation ?? '', `${this.nonce.next()}:${spent}`, Math.max(0, spent));
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

  peek(id: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    return withFallback<RateLimiter, RateLimitDecision>(this.health, this.shared, this.local, (l) => l.peek(id, limit, windowMs));
  }

  async close(): Promise<void> {
    await this.local.close();
  }
}

/** Reservations made in Redis carry this prefix, so they are settled where they were made. */
const SHARED = 'r:';

export class FallbackTokenLimiter implements TokenLimiter {
  constructor(
    private readonly health: RedisHealth,
    private readonly shared: RedisTokenLimiter,
    private readonly local: MemoryTokenLimiter,
  ) {}

  async reserve(id: string, limit: number, windowMs: number, tokens: number): Promise<TokenDecision> {
    if (this.health.usable()) {
      try {
        const d = await this.shared.reserve(id, limit, windowMs, tokens);
        return { ...d, reservation: d.reservation === null ? null : SHARED + d.reservation };
      } catch (err) {
        this.health.markDown(err as Error);
      }
    }
    return this.local.reserve(id, limit, windowMs, tokens);
  }

  peek(id: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    return withFallback<TokenLimiter, RateLimitDecision>(this.health, this.shared, this.local, (l) => l.peek(id, limit, windowMs));
  }

  async settle(id: string, reservation: string | null, spent: number, windowMs: number): Promise<void> {
    const mine = reservation?.startsWith(SHARED) ? reservation.slice(SHARED.length) : null;
    if (reservation === null || mine !== null) {
      if (this.health.usable()) {
        try {
          return await this.shared.settle(id, mine, spent, windowMs);
        } catch (err) {
          // The Redis reservation expires by itself; the spend is kept here meanwhile.
          this.health.markDown(err as Error);
        }
      }
      return this.local.settle(id, null, spent);
    }
    return this.local.settle(id, reservation, spent);
  }

  async close(): Promise<void> {
    await this.local.close();
  }
}
