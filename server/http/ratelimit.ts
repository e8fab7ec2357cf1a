import type { Context, Next } from 'koa';
import type { RateLimiter } from '../ratelimit/types.ts';
import type { UsageLedger } from '../usage/ledger.ts';
import { GatewayError } from './errors.ts';
import type { RequestState } from './state.ts';

/** Applies the key's sliding-window limit; sets X-RateLimit-* on every authenticated answer. */
export function rateLimit(limiter: RateLimiter, windowMs: number, usage: UsageLedger | null) {
  return async function rateLimitMiddleware(ctx: Context, next: Next): Promise<void> {
    const key = (ctx.state as RequestState).key;
    if (!key || key.rateLimit === 0) return next();
    const decision = await limiter.check(key.keyId, key.rateLimit, windowMs);
    const resetSeconds = Math.ceil(Math.max(0, decision.resetMs) / 1000);
    ctx.set('X-RateLimit-Limit', String(decision.limit));
    ctx.set('X-RateLimit-Remaining', String(decision.remaining));
    ctx.set('X-RateLimit-Reset', String(resetSeconds));
    if (!decision.allowed) {
      usage?.add(key, { rate_limited: 1 });
      throw new GatewayError('rate_limit_exceeded', undefined, { 'Retry-After': String(Math.max(1, resetSeconds)) });
    }
    return next();
  };
}
