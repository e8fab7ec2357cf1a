import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';

/** RFC 9110 §7.6.1 hop-by-hop headers, plus ones undici refuses on a request. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect',
]);
/** Client credentials: never forwarded to the model server. */
const CLIENT_CREDENTIALS = new Set(['authorization', 'x-api-key']);

/** Connection values seen lately and their tokens: nearly every message says `keep-alive`. */
const TOKENS = new Map<string, ReadonlySet<string>>();
const TOKENS_KEPT = 32;

function connectionTokens(value: string | string[] | undefined): ReadonlySet<string> | null {
  if (!value) return null;
  const text = Array.isArray(value) ? value.join(',') : value;
  let tokens = TOKENS.get(text);
  if (tokens === undefined) {
    // Split, trimmed and lower-cased once per distinct value, not once per message.
    tokens = new Set(text.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean));
    if (TOKENS.size >= TOKENS_KEPT) TOKENS.clear();
    TOKENS.set(text, tokens);
  }
  return tokens;
}

export interface RequestHeaderOptions {
  upstreamApiKey: string | undefined;
  /** The body was replaced: its length is recomputed by the client. */
  bodyReplaced: boolean;
}

/** Headers for the upstream request: hop-by-hop and client credentials dropped, X-Forwarded-* added. */
export function upstreamRequestHeaders(req: IncomingMessage, opts: RequestHeaderOptions): Record<string, string | string[]> {
  const src = req.headers;
  const listed = connectionTokens(src.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in src) {
    if (HOP_BY_HOP.has(name) || CLIENT_CREDENTIALS.has(name) || name === 'host') continue;
    if (listed?.has(name)) continue;
    if (opts.bodyReplaced && name === 'content-length') continue;
    const value = src[name];
    if (value !== undefined) out[name] = value;
  }
  const peer = req.socket.remoteAddress;
  if (peer) {
    const prior = src['x-forwarded-for'];
    out['x-forwarded-for'] = prior ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${peer}` : peer;
  }
  if (!src['x-forwarded-proto']) out['x-forwarded-proto'] = 'encrypted' in req.socket && req.socket.encrypted ? 'https' : 'http';
  if (src.host && !src['x-forwarded-host']) out['x-forwarded-host'] = src.host;
  if (opts.upstreamApiKey) out.authorization = `Bearer ${opts.upstreamApiKey}`;
  return out;
}

/** Upstream response headers minus hop-by-hop ones, ready for writeHead. */
export function clientResponseHeaders(src: IncomingHttpHeaders | Record<string, string | string[] | undefined>, dropLength: boolean): OutgoingHttpHeaders {
  const listed = connectionTokens(src.connection);
  const out: OutgoingHttpHeaders = {};
  for (const name in src) {
    if (HOP_BY_HOP.has(name) || listed?.has(name)) continue;
    if (dropLength && name === 'content-length') continue;
    const value = src[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}
