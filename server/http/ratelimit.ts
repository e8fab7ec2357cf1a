import type { Context, Next } from 'koa';
import type { RateLimitDecision, RateLimiter, TokenLimiter } from '../ratelimit/types.ts';
import type { UsageLedger } from '../usage/ledger.ts';
import { GatewayError } from '../errors.ts';
import type { RequestState } from './state.ts';

function seconds(ms: number): number {
  return Math.ceil(Math.max(0, ms) / 1000);
}

function retryAfter(decision: RateLimitDecision): Record<string, string> {
  return { 'Retry-After': String(Math.max(1, seconds(decision.resetMs))) };
}

/**
 * Applies the key's limits: tokens per window first (a check that records nothing), then
 * requests per window (which admits and records), so a request refused for tokens never uses up
 * a request slot. Sets X-RateLimit-* on every authenticated answer.
 */
export function rateLimit(limiter: RateLimiter, tokens: TokenLimiter, windowMs: number, usage: UsageLedger | null) {
  return async function rateLimitMiddleware(ctx: Context, next: Next): Promise<void> {
    const key = (ctx.state as RequestState).key;
    if (!key) return next();

    if (key.tpmLimit !== null) {
      const spent = await tokens.check(key.keyId, key.tpmLimit, windowMs);
      ctx.set('X-RateLimit-Limit-Tokens', String(spent.limit));
      ctx.set('X-RateLimit-Remaining-Tokens', String(spent.remaining));
      if (!spent.allowed) {
        usage?.add(key, { rate_limited: 1 });
        throw new GatewayError('token_limit_exceeded', undefined, retryAfter(spent));
      }
    }

    if (key.rateLimit > 0) {
      const decision = await limiter.check(key.keyId, key.rateLimit, windowMs);
      ctx.set('X-RateLimit-Limit', String(decision.limit));
      ctx.set('X-RateLimit-Remaining', String(decision.remaining));
      ctx.set('X-RateLimit-Reset', String(seconds(decision.resetMs)));
      if (!decision.allowed) {
        usage?.add(key, { rate_limited: 1 });
        throw new GatewayError('rate_limit_exceeded', undefined, retryAfter(decision));
      }
    }
    return next();
  };
}
