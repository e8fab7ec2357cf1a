import type { Context, Next } from 'koa';
import type { RateLimitDecision, RateLimiter, TokenLimiter } from '../ratelimit/types.ts';
import type { UsageLedger } from '../usage/ledger.ts';
import { GatewayError } from '../errors.ts';
import { addAnswerHeaders, type RequestState } from './state.ts';

function seconds(ms: number): number {
  return Math.ceil(Math.max(0, ms) / 1000);
}

function retryAfter(decision: RateLimitDecision): Record<string, string> {
  return { 'Retry-After': String(Math.max(1, seconds(decision.resetMs))) };
}

export interface RateLimitDeps {
  limiter: RateLimiter;
  tokens: TokenLimiter;
  windowMs: number;
  usage: UsageLedger | null;
  /** Reserved for a request whose plan set no budget (TOKEN_RESERVE_DEFAULT). */
  tokenReserveDefault: number;
}

/**
 * Applies the key's limits, after the request plan: tokens per window first (reserving the
 * plan's budget, capped at the key's limit), then requests per window, so a request refused
 * for tokens never uses up a request slot. The reservation is settled to `state.spent` when
 * the answer has ended, whatever happened to it. Sets X-RateLimit-* on every authenticated answer.
 */
export function rateLimit(deps: RateLimitDeps) {
  const { limiter, tokens, windowMs, usage } = deps;
  return async function rateLimitMiddleware(ctx: Context, next: Next): Promise<void> {
    const state = ctx.state as RequestState;
    const key = state.key;
    if (!key) return next();

    let reservation: string | null = null;
    if (key.tpmLimit !== null) {
      const want = Math.min(state.tokenBudget ?? deps.tokenReserveDefault, key.tpmLimit);
      const decision = await tokens.reserve(key.keyId, key.tpmLimit, windowMs, want);
      addAnswerHeaders(state, { 'X-RateLimit-Limit-Tokens': String(decision.limit), 'X-RateLimit-Remaining-Tokens': String(decision.remaining) });
      if (!decision.allowed) {
        usage?.add(key, { rate_limited: 1 });
        throw new GatewayError('token_limit_exceeded', undefined, retryAfter(decision));
      }
      reservation = decision.reservation;
    }

    try {
      if (key.rateLimit > 0) {
        const decision = await limiter.check(key.keyId, key.rateLimit, windowMs);
        addAnswerHeaders(state, {
          'X-RateLimit-Limit': String(decision.limit),
          'X-RateLimit-Remaining': String(decision.remaining),
          'X-RateLimit-Reset': String(seconds(decision.resetMs)),
        });
        if (!decision.allowed) {
          usage?.add(key, { rate_limited: 1 });
          throw new GatewayError('rate_limit_exceeded', undefined, retryAfter(decision));
        }
      }
      await next();
    } finally {
      if (key.tpmLimit !== null) {
        const spent = state.spent ? state.spent.prompt_tokens + state.spent.completion_tokens : 0;
        if (reservation !== null || spent > 0) await tokens.settle(key.keyId, reservation, spent, windowMs).catch(() => undefined);
      }
    }
  };
}
