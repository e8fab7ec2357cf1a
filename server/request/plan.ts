import { GatewayError } from '../errors.ts';
import { type EndpointKind, takesStreamOptions } from './endpoints.ts';
import { scanJsonObject, type TopField } from './json.ts';
import { laxBool, laxInt } from './lax.ts';

/**
 * One reading of a request, computed once; routing, policies, limits, metering and the upstream
 * all take it and none of them reads the request again.
 */
export interface RequestPlan {
  /** Canonical path plus the query as sent: what goes upstream. */
  target: string;
  /** Decoded canonical path: what vLLM routes on. */
  route: string;
  /** What the request spends; for `/invocations`, the kind vLLM will run it as. */
  kind: EndpointKind;
  /** The model vLLM will read (null: none named, the base model serves it). */
  model: string | null;
  stream: boolean;
  /** What the client asked for itself; the gateway hides the rest of what it asked vLLM for. */
  clientUsage: { final: boolean; perChunk: boolean };
  /** Choices per prompt (`n`), to add per-choice stream usage up right. */
  n: number;
  /** Output tokens the request may generate, as vLLM reads it (reserved at admission). */
  tokenBudget: number;
  /** The body to forward when the gateway read it (maybe with `stream_options` added). */
  body?: Buffer;
}

/** vLLM's default `max_tokens` for completions (reference/vllm.md §6). */
const COMPLETION_DEFAULT_MAX_TOKENS = 16;

/** Top-level fields the meter reads; a key equal to one of them but for case is refused. */
const WATCHED = ['model', 'stream', 'stream_options', 'max_tokens', 'max_completion_tokens', 'max_output_tokens', 'n', 'messages', 'prompt', 'input'];
const WATCHED_LOWER = new Map(WATCHED.map((k) => [k.toLowerCase(), k]));

function invalid(message: string): GatewayError {
  return new GatewayError('invalid_request_body', message);
}

/** The small values the plan needs, parsed from their spans only. */
class Fields {
  constructor(
    private readonly body: Buffer,
    readonly map: Map<string, TopField>,
  ) {}

  has(key: string): boolean {
    return this.map.has(key);
  }

  value(key: string): unknown {
    const f = this.map.get(key);
    return f ? JSON.parse(this.body.toString('utf8', f.start, f.end)) : undefined;
  }

  /** A boolean field: only true, false or null are accepted. */
  bool(key: string, within = ''): boolean | null {
    const v = this.value(key);
    if (v === undefined || v === null || typeof v === 'boolean') return (v as boolean | undefined) ?? null;
    throw invalid(describe(`${within}${key}`, v, laxBool(v), 'true or false'));
  }

  /** An integer field: only a plain integer or null is accepted. */
  int(key: string): number | null {
    const f = this.map.get(key);
    if (!f || f.type === 'null') return null;
    const text = this.body.toString('latin1', f.start, f.end);
    if (f.type === 'number' && /^-?\d+$/.test(text) && Number.isSafeInteger(Number(text))) return Number(text);
    const v = this.value(key);
    throw invalid(describe(key, v, laxInt(v), 'a whole number'));
  }
}

/** What a value is, said without repeating it (error messages never echo request data). */
function kindOf(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? 'the number given' : 'a fraction or exponent';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'boolean') return 'a boolean';
  return Array.isArray(value) ? 'an array' : 'an object';
}

function describe(key: string, value: unknown, lax: unknown, expected: string): string {
  const read = lax === 'invalid' ? 'vLLM would refuse it' : `vLLM would read it as ${String(lax)}`;
  return `"${key}" must be ${expected}, not ${kindOf(value)} (${read}).`;
}

/** A key repeated in a message only when it is plainly a field name. */
export function safeKey(key: string): string {
  return /^[A-Za-z0-9_.-]{1,64}$/.test(key) ? `"${key}"` : 'a key';
}

function checkKeyCase(keys: Iterable<string>): void {
  for (const key of keys) {
    const meant = WATCHED_LOWER.get(key.toLowerCase());
    if (meant !== undefined && meant !== key) {
      throw invalid(`The key ${safeKey(key)} differs from "${meant}" only in letter case; vLLM would ignore it. Send "${meant}".`);
    }
  }
}

/** How /invocations will run: vLLM tries chat, then completions, then the pooling types. */
function invocationKind(fields: Fields): EndpointKind {
  if (fields.has('messages')) return 'chat';
  if (fields.has('prompt')) return 'completion';
  return 'pooling';
}

/** Completions run once per prompt: a list of strings or of token lists is several prompts. */
function promptCount(field: TopField | undefined): number {
  if (!field || field.type !== 'array' || !field.length) return 1;
  return field.first === 'string' || field.first === 'array' ? field.length : 1;
}

export interface BodyPlanInput {
  kind: EndpointKind;
  body: Buffer;
  /** TOKEN_RESERVE_DEFAULT: the budget of a request that names none. */
  defaultBudget: number;
  /** SageMaker's adapter header on /invocations, which vLLM writes into `model`. */
  adapterModel?: string;
}

export type BodyPlan = Pick<RequestPlan, 'kind' | 'model' | 'stream' | 'clientUsage' | 'n' | 'tokenBudget' | 'body'>;

/** Reads a JSON request body the way vLLM will, or refuses it (400 invalid_request_body). */
export function planBody(input: BodyPlanInput): BodyPlan {
  const scan = scanJsonObject(input.body);
  if (!scan.ok) throw invalid(scan.reason);
  checkKeyCase(scan.fields.keys());
  const fields = new Fields(input.body, scan.fields);

  const kind = input.kind === 'invocation' ? invocationKind(fields) : input.kind;
  const named = fields.value('model');
  const model = input.adapterModel ?? (typeof named === 'string' && named !== '' ? named : null);
  const streams = kind === 'chat' || kind === 'completion' || kind === 'responses' || kind === 'messages';
  const stream = streams ? (fields.bool('stream') ?? false) : false;
  const n = Math.max(0, fields.int('n') ?? 1);

  let budget: number;
  if (kind === 'chat') {
    const max = fields.int('max_completion_tokens') ?? fields.int('max_tokens');
    budget = (max ?? input.defaultBudget) * n;
  } else if (kind === 'completion') {
    budget = (fields.int('max_tokens') ?? COMPLETION_DEFAULT_MAX_TOKENS) * n * promptCount(scan.fields.get('prompt'));
  } else if (kind === 'responses') {
    budget = fields.int('max_output_tokens') ?? input.defaultBudget;
  } else if (kind === 'messages') {
    budget = fields.int('max_tokens') ?? input.defaultBudget;
  } else if (kind === 'audio' || kind === 'none') {
    budget = 0;
  } else {
    budget = input.defaultBudget; // pooling: prompt tokens only, unknown before the answer
  }

  let clientUsage = { final: false, perChunk: false };
  let body = input.body;
  if (stream && takesStreamOptions(kind)) {
    const opts = streamOptions(input.body, scan.fields.get('stream_options'));
    clientUsage = { final: opts.include_usage, perChunk: opts.include_usage && opts.continuous_usage_stats };
    body = withStreamOptions(input.body, scan.fields.get('stream_options'), scan.close, opts.rest);
  }
  return { kind, model, stream, clientUsage, n, tokenBudget: Math.max(0, budget), body };
}

function streamOptions(body: Buffer, field: TopField | undefined): { include_usage: boolean; continuous_usage_stats: boolean; rest: Record<string, unknown> } {
  if (!field || field.type === 'null') return { include_usage: false, continuous_usage_stats: false, rest: {} };
  if (field.type !== 'object') throw invalid('"stream_options" must be an object.');
  const inner = scanJsonObject(body.subarray(field.start, field.end));
  if (!inner.ok) throw invalid(inner.reason);
  for (const key of inner.fields.keys()) {
    const meant = ['include_usage', 'continuous_usage_stats'].find((k) => k === key.toLowerCase() && k !== key);
    if (meant) throw invalid(`The key ${safeKey(key)} in "stream_options" differs from "${meant}" only in letter case.`);
  }
  const opts = new Fields(body.subarray(field.start, field.end), inner.fields);
  const include = opts.bool('include_usage', 'stream_options.') ?? false;
  const continuous = opts.bool('continuous_usage_stats', 'stream_options.') ?? false;
  const rest = JSON.parse(body.toString('utf8', field.start, field.end)) as Record<string, unknown>;
  return { include_usage: include, continuous_usage_stats: continuous, rest };
}

/**
 * Asks vLLM for usage on every chunk and at the end, so a stream cut short still counts. Only
 * the `stream_options` value changes: every other byte goes upstream as sent.
 */
function withStreamOptions(body: Buffer, field: TopField | undefined, close: number, rest: Record<string, unknown>): Buffer {
  const value = Buffer.from(JSON.stringify({ ...rest, include_usage: true, continuous_usage_stats: true }));
  if (field) return Buffer.concat([body.subarray(0, field.start), value, body.subarray(field.end)]);
  // `stream` is set, so the object is not empty: a comma goes before the new field.
  return Buffer.concat([body.subarray(0, close), Buffer.from(',"stream_options":'), value, body.subarray(close)]);
}
