import type { KeyStore } from '../keys/store.ts';
import type { KeyRecord } from '../keys/types.ts';
import type { CanonicalPath } from '../request/path.ts';
import type { RequestPlan } from '../request/plan.ts';

/** How the gateway decides who gets in, fixed at start. */
export type AuthState =
  | { mode: 'google_sheets' | 'file'; reason: null; store: KeyStore }
  | { mode: 'open'; reason: string; store: null }
  | { mode: 'disabled'; reason: string; store: null };

/** What middlewares learn about a request, for the ones after them and the access log. */
export interface RequestState {
  key?: KeyRecord;
  /** Logged for denied keys too (never the key itself). */
  keyId?: string;
  /** Status actually sent when the proxy wrote the response itself. */
  sentStatus?: number;
  outcome?: string;
  /**
   * Output tokens the request may generate, as vLLM will read it (set by the request plan before
   * admission); limiters reserve this, or TOKEN_RESERVE_DEFAULT when unset.
   */
  tokenBudget?: number;
  /** The canonical path (set first, by routeRequest). */
  where?: Extract<CanonicalPath, { ok: true }>;
  /** The one reading of the request that limits, metering and the upstream take (set by planRequest). */
  plan?: RequestPlan;
  /** The model vLLM will read (null: none named), for routing to an upstream. */
  model?: string | null;
  /**
   * Headers the gateway adds to the client's answer (X-Client-Name, X-RateLimit-*, X-Quota-*).
   * Kept here rather than set on the response: the proxy writes them with the upstream's in one
   * writeHead object, which Node sends on its fast path only when no header was set before; the
   * boundary sets them on the answers Koa sends (docs/performance.md).
   */
  answerHeaders?: Record<string, string>;
  /** Tokens the answer spent (set by the proxy once the answer ended, cut short or not). */
  spent?: { prompt_tokens: number; completion_tokens: number };
}

/** Adds headers to the client's answer, whoever ends up writing it (see `answerHeaders`). */
export function addAnswerHeaders(state: RequestState, headers: Record<string, string>): void {
  if (state.answerHeaders) Object.assign(state.answerHeaders, headers);
  else state.answerHeaders = { ...headers };
}
