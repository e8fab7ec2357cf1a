import type { Context, Next } from 'koa';
import { GatewayError } from '../errors.ts';
import { hasQuota, type Admission, type Quotas } from '../quota/quotas.ts';
import type { UsageLedger } from '../usage/ledger.ts';
import { addAnswerHeaders, type RequestState } from './state.ts';

function quotaHeaders(a: Admission): Record<string, string> {
  const headers: Record<string, string> = {};
  if (a.remainingTokens !== null) headers['X-Quota-Remaining-Tokens'] = String(a.remainingTokens);
  if (a.remainingRequests !== null) headers['X-Quota-Remaining-Requests'] = String(a.remainingRequests);
  headers['X-Quota-Reset'] = String(a.resetSeconds);
  return headers;
}

/**
 * The client's quota for the period: admission reserves the request's token budget (what the
 * request plan set, else TOKEN_RESERVE_DEFAULT, capped at the quota) and one request; after the
 * answer the reservation becomes what the upstream reported. Placed after the rate limiter, so a
 * request refused for rate never touches the quota.
 */
export function quota(quotas: Quotas, timeZone: () => string, usage: UsageLedger | null) {
  return async function quotaMiddleware(ctx: Context, next: Next): Promise<void> {
    const state = ctx.state as RequestState;
    const key = state.key;
    if (!key || !hasQuota(key)) return next();
    const admission = await quotas.admit(key, timeZone(), state.tokenBudget);
    const headers = quotaHeaders(admission);
    if (!admission.allowed) {
      usage?.add(key, { rate_limited: 1 });
      // X-Should-Retry: the OpenAI SDKs otherwise retry a 429 at once; this one frees only when the period ends.
      throw new GatewayError('quota_exceeded', undefined, { ...headers, 'Retry-After': String(admission.resetSeconds), 'X-Should-Retry': 'false' });
    }
    addAnswerHeaders(state, headers);
    try {
      await next();
    } finally {
      // A request that never got an answer (refused before the upstream, or the upstream failed)
      // gives its request back, as the Usage tab does not count it either.
      await quotas.settle(admission, state.sentStatus === undefined ? undefined : state.spent);
    }
  };
}
