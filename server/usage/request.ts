/** Endpoints whose answers carry `usage` and whose streams can be asked for a usage chunk. */
export const COMPLETION_PATHS: ReadonlySet<string> = new Set(['/v1/chat/completions', '/v1/completions']);

export interface CompletionRequest {
  /** The body to send upstream (rewritten when the gateway asked for usage). */
  body: Buffer;
  stream: boolean;
  /** The client did not ask for the usage chunk: the gateway did, and hides it. */
  hideUsageChunk: boolean;
  model: string | null;
}

const INCLUDE_USAGE = Buffer.from(',"stream_options":{"include_usage":true}}');

/**
 * Looks at a completion request's JSON body. For a stream whose client did not ask for usage,
 * asks for it (`stream_options.include_usage`). The body is appended to rather than re-serialised
 * where it can be, so every other byte (large integers, key order) goes upstream as sent.
 */
export function planCompletion(raw: Buffer): CompletionRequest {
  let parsed: { stream?: unknown; model?: unknown; stream_options?: unknown };
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    return { body: raw, stream: false, hideUsageChunk: false, model: null }; // upstream will say what is wrong
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return { body: raw, stream: false, hideUsageChunk: false, model: null };
  const model = typeof parsed.model === 'string' ? parsed.model : null;
  if (parsed.stream !== true) return { body: raw, stream: false, hideUsageChunk: false, model };
  const options = parsed.stream_options;
  if (options && typeof options === 'object' && (options as { include_usage?: unknown }).include_usage === true) {
    return { body: raw, stream: true, hideUsageChunk: false, model };
  }
  let body: Buffer;
  if (options === undefined) {
    const end = raw.lastIndexOf(0x7d /* } */);
    body = Buffer.concat([raw.subarray(0, end), INCLUDE_USAGE]);
  } else {
    const merged = { ...(options && typeof options === 'object' ? options : {}), include_usage: true };
    body = Buffer.from(JSON.stringify({ ...parsed, stream_options: merged }));
  }
  return { body, stream: true, hideUsageChunk: true, model };
}
