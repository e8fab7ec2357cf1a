import type { Context, Next } from 'koa';
import { GatewayError } from '../errors.ts';
import type { Quotas } from '../quota/quotas.ts';
import type { RateLimitDecision, RateLimiter, TokenLimiter } from '../ratelimit/types.ts';
import type { RequestState } from './state.ts';

export const AUTH_KEY_PATH = '/auth/key';

export interface AuthKeyDeps {
  limiter: RateLimiter;
  tokens: TokenLimiter;
  windowMs: number;
  quotas: Quotas | null;
  /** The key source's time zone (quota periods are its calendar). */
  timeZone: () => string;
}

function standing(d: RateLimitDecision): { limit: number; remaining: number; reset_seconds: number } {
  return { limit: d.limit, remaining: d.remaining, reset_seconds: Math.ceil(Math.max(0, d.resetMs) / 1000) };
}

/**
 * `GET /auth/key`: the caller's own standing, for the key it presents (placed right after
 * authentication: never proxied, never rate-limited, never counted). Reads every limiter without
 * recording anything. Never the key: its id (first 16 hex of its SHA-256) names it.
 */
export function authKey(deps: AuthKeyDeps) {
  return async function authKeyMiddleware(ctx: Context, next: Next): Promise<void> {
    if (ctx.path !== AUTH_KEY_PATH) return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') throw new GatewayError('not_found');
    const key = (ctx.state as RequestState).key;
    if (!key) throw new GatewayError('not_found', 'This gateway checks no API keys (open or disabled mode): there is no key to describe.');
    const [rate, tpm, quota] = await Promise.all([
      key.rateLimit > 0 ? deps.limiter.peek(key.keyId, key.rateLimit, deps.windowMs) : null,
      key.tpmLimit !== null ? deps.tokens.peek(key.keyId, key.tpmLimit, deps.windowMs) : null,
      deps.quotas ? deps.quotas.standing(key, deps.timeZone()) : null,
    ]);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      client_name: key.clientName,
      key_id: key.keyId,
      expires_at: key.expiresAt === null ? null : new Date(key.expiresAt).toISOString(),
      rate_limit: rate ? standing(rate) : null,
      tpm_limit: tpm ? standing(tpm) : null,
      quota,
      allowed_models: key.allowedModels ? [...key.allowedModels] : null,
    };
  };
}
