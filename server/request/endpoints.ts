/**
 * Which paths reach vLLM, and what each one spends. Paths here are routes: canonical and decoded
 * (see path.ts). Sources: reference/vllm.md §1 (routes) and §5 (usage fields).
 */

/** The client API, by default. `/v1` covers `/v1/*` but for ADMIN_PATHS. */
export const DEFAULT_PROXY_PATHS: readonly string[] = [
  '/v1', '/tokenize', '/detokenize', '/pooling', '/classify', '/score', '/rerank', '/v2/rerank', '/v2/embed', '/invocations',
];

/** Under an allowed prefix but not for API clients: reached only when PROXY_PATHS names them. */
const ADMIN_PATHS: readonly string[] = ['/v1/load_lora_adapter', '/v1/unload_lora_adapter'];

/** The gateway's own paths: never proxied, whatever PROXY_PATHS says. */
export function isGatewayRoute(route: string): boolean {
  return route === '/health' || route === '/auth/status' || route === '/metrics' || route === '/admin' || route.startsWith('/admin/');
}

function under(route: string, prefix: string): boolean {
  return prefix === '/' || route === prefix || route.startsWith(`${prefix}/`);
}

/** The allow-list of proxied routes: path prefixes matched segment by segment (`/v1` is not `/v1foo`). */
export class ProxyPaths {
  readonly prefixes: readonly string[];

  /** `list`: PROXY_PATHS as configured (comma-separated prefixes), or undefined for the default. */
  constructor(list?: string) {
    this.prefixes = list
      ? list.split(',').map((p) => p.trim().replace(/\/+$/, '') || '/').filter((p) => p.startsWith('/'))
      : DEFAULT_PROXY_PATHS;
  }

  allows(route: string): boolean {
    if (isGatewayRoute(route)) return false;
    if (!this.prefixes.some((p) => under(route, p))) return false;
    // An admin path needs a prefix that names it (or something under it) explicitly.
    const admin = ADMIN_PATHS.find((a) => under(route, a));
    return admin === undefined || this.prefixes.some((p) => under(p, admin) && under(route, p));
  }
}

/**
 * How a POST to a route spends tokens and reports them.
 * - `chat`, `completion`: OpenAI `usage`; streams get `stream_options`.
 * - `invocation`: SageMaker's `/invocations`, run by vLLM as chat, completion or pooling.
 * - `responses`: `usage.input_tokens/output_tokens`; streamed in `response.completed`.
 * - `messages`: Anthropic `usage` (input, output, cache fields); streamed in message_start/_delta.
 * - `pooling`: `usage.prompt_tokens` (embeddings, pooling, classify, score, rerank).
 * - `cohere_embed`: `meta.billed_units`.
 * - `audio`: reported in seconds, not tokens: counted as requests only.
 * - `none`: spends no tokens (model lists, tokenize, retrieving a stored response, ...).
 */
export type EndpointKind = 'chat' | 'completion' | 'invocation' | 'responses' | 'messages' | 'pooling' | 'cohere_embed' | 'audio' | 'none';

const KINDS = new Map<string, EndpointKind>([
  ['/v1/chat/completions', 'chat'],
  ['/v1/chat/completions/batch', 'chat'],
  ['/v1/completions', 'completion'],
  ['/invocations', 'invocation'],
  ['/v1/responses', 'responses'],
  ['/v1/messages', 'messages'],
  ['/v1/embeddings', 'pooling'],
  ['/pooling', 'pooling'],
  ['/v1/pooling', 'pooling'],
  ['/classify', 'pooling'],
  ['/v1/classify', 'pooling'],
  ['/score', 'pooling'],
  ['/v1/score', 'pooling'],
  ['/rerank', 'pooling'],
  ['/v1/rerank', 'pooling'],
  ['/v2/rerank', 'pooling'],
  ['/v2/embed', 'cohere_embed'],
  ['/v1/audio/transcriptions', 'audio'],
  ['/v1/audio/translations', 'audio'],
]);

export function endpointKind(method: string, route: string): EndpointKind {
  return method === 'POST' ? (KINDS.get(route) ?? 'none') : 'none';
}

/** Kinds whose JSON body the gateway must read to meter it (audio is multipart, and not in tokens). */
export function readsJsonBody(kind: EndpointKind): boolean {
  return kind !== 'none' && kind !== 'audio';
}

/** Kinds that can stream, and whose stream the gateway asks for usage (`stream_options`). */
export function takesStreamOptions(kind: EndpointKind): boolean {
  return kind === 'chat' || kind === 'completion' || kind === 'invocation';
}
