import type { KeyStore } from '../keys/store.ts';
import type { KeyRecord } from '../keys/types.ts';

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
  /**
   * The `model` vLLM will read (null: none named), set by the request plan; with several
   * upstreams the proxy routes on it.
   */
  model?: string | null;
  /** Tokens the answer spent (set by the proxy once the answer ended, cut short or not). */
  spent?: { prompt_tokens: number; completion_tokens: number };
}
