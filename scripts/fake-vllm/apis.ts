/** The stand-in's other token-spending routes: Responses, Anthropic messages, pooling and audio. */
import { type AnswerContext, countWords, DEFAULT_COMPLETION_TOKENS, json, openEventStream, record, sleep, WORDS } from './answers.ts';
import { pyBool, pyInt, pyStr, ValidationError } from './python.ts';

function rid(prefix: string): string {
  return `${prefix}_${Math.random().toString(36).slice(2, 12)}`;
}

/** Writes `event:`/`data:` frames, one token per delta frame; stops when the client leaves. */
async function sse(ctx: AnswerContext, frames: Array<{ type: string; payload: () => unknown; token?: boolean }>): Promise<{ tokens: number; aborted: boolean }> {
  const out = openEventStream(ctx.res);
  let tokens = 0;
  for (const f of frames) {
    if (out.gone) break;
    out.write(`event: ${f.type}\ndata: ${JSON.stringify(f.payload())}\n\n`);
    if (f.token) {
      tokens += 1;
      await sleep(ctx.chunkDelayMs);
    }
  }
  if (!out.gone) ctx.res.end();
  ctx.onStreamEnd(out.text, out.gone);
  return { tokens, aborted: out.gone };
}

/** POST /v1/responses: usage as input/output tokens; streamed, only in `response.completed`. */
export async function responses(ctx: AnswerContext): Promise<void> {
  const b = ctx.body;
  const stream = pyBool(b.stream, 'stream') ?? false;
  const max = Math.max(1, Math.min(1000, pyInt(b.max_output_tokens, 'max_output_tokens') ?? DEFAULT_COMPLETION_TOKENS));
  const model = pyStr(b.model, 'model') || ctx.model;
  const input = countWords(b.input ?? '') + countWords(b.instructions ?? '');
  const pieces = Array.from({ length: max }, (_, i) => WORDS[i % WORDS.length]!);
  const id = rid('resp');
  const created = Math.floor(Date.now() / 1000);
  const response = (status: string, usage: unknown, text: string) => ({
    id, object: 'response', created_at: created, model, status,
    output: text ? [{ type: 'message', id: `msg_${id}`, role: 'assistant', status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] }] : [],
    usage,
  });
  const usage = { input_tokens: input, input_tokens_details: { cached_tokens: 0 }, output_tokens: max, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: input + max };
  if (!stream) {
    record(ctx, input, max, false, false);
    return json(ctx.res, 200, response('completed', usage, pieces.join('')));
  }
  let seq = 0;
  const frames = [
    { type: 'response.created', payload: () => ({ type: 'response.created', sequence_number: seq++, response: response('in_progress', null, '') }) },
    ...pieces.map((delta) => ({ type: 'response.output_text.delta', token: true, payload: () => ({ type: 'response.output_text.delta', sequence_number: seq++, item_id: `msg_${id}`, output_index: 0, content_index: 0, delta }) })),
    { type: 'response.completed', payload: () => ({ type: 'response.completed', sequence_number: seq++, response: response('completed', usage, pieces.join('')) }) },
  ];
  const r = await sse(ctx, frames);
  record(ctx, r.tokens > 0 || !r.aborted ? input : 0, r.tokens, true, r.aborted);
}

/** POST /v1/messages (Anthropic): input minus cached, cache fields, output; streamed in message_start/_delta. */
export async function messages(ctx: AnswerContext): Promise<void> {
  const b = ctx.body;
  const model = pyStr(b.model, 'model');
  if (!model) throw new ValidationError('model: Field required');
  const max = pyInt(b.max_tokens, 'max_tokens');
  if (max === null) throw new ValidationError('max_tokens: Field required');
  const stream = pyBool(b.stream, 'stream') ?? false;
  const tokens = Math.max(1, Math.min(1000, max));
  const prompt = countWords(Array.isArray(b.messages) ? b.messages.map((m: { content?: unknown }) => m?.content ?? '') : '') + countWords(b.system ?? '');
  // Half the prompt "from the prefix cache", so the cache fields carry tokens the meter must count.
  const cached = Math.floor(prompt / 2);
  const usage = { input_tokens: prompt - cached, cache_read_input_tokens: cached, cache_creation_input_tokens: 0, output_tokens: tokens };
  const pieces = Array.from({ length: tokens }, (_, i) => WORDS[i % WORDS.length]!);
  const id = rid('msg');
  const message = (content: unknown[], u: unknown) => ({ id, type: 'message', role: 'assistant', model, content, stop_reason: null, stop_sequence: null, usage: u });
  if (!stream) {
    record(ctx, prompt, tokens, false, false);
    return json(ctx.res, 200, { ...message([{ type: 'text', text: pieces.join('') }], usage), stop_reason: 'max_tokens' });
  }
  const frames = [
    { type: 'message_start', payload: () => ({ type: 'message_start', message: message([], { ...usage, output_tokens: 0 }) }) },
    { type: 'content_block_start', payload: () => ({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }) },
    ...pieces.map((text) => ({ type: 'content_block_delta', token: true, payload: () => ({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }) })),
    { type: 'content_block_stop', payload: () => ({ type: 'content_block_stop', index: 0 }) },
    { type: 'message_delta', payload: () => ({ type: 'message_delta', delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { output_tokens: tokens } }) },
    { type: 'message_stop', payload: () => ({ type: 'message_stop' }) },
  ];
  const r = await sse(ctx, frames);
  record(ctx, prompt, r.tokens, true, r.aborted);
}

/** The fields pooling requests carry their input in (one token per word). */
const INPUT_FIELDS = ['input', 'texts', 'text_1', 'text_2', 'query', 'documents', 'messages', 'prompt'];

/** Embeddings, pooling, classify, score, rerank, /v2/embed: prompt tokens only. */
export function pooling(ctx: AnswerContext): void {
  const model = pyStr(ctx.body.model, 'model') || ctx.model;
  const prompt = INPUT_FIELDS.reduce((n, f) => n + countWords(ctx.body[f]), 0);
  record(ctx, prompt, 0, false, false);
  const usage = { prompt_tokens: prompt, total_tokens: prompt, completion_tokens: 0 };
  const id = rid('pool');
  switch (ctx.route) {
    case '/v2/embed':
      return json(ctx.res, 200, { id, embeddings: { float: [[0.1, 0.2]] }, texts: ctx.body.texts ?? [], meta: { api_version: { version: '2' }, billed_units: { input_tokens: prompt } } });
    case '/rerank': case '/v1/rerank': case '/v2/rerank':
      return json(ctx.res, 200, { id, model, results: [{ index: 0, relevance_score: 0.5 }], usage: { prompt_tokens: prompt, total_tokens: prompt } });
    case '/v1/embeddings':
      return json(ctx.res, 200, { id, object: 'list', created: 0, model, data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2, 0.3] }], usage });
    default:
      return json(ctx.res, 200, { id, object: 'list', created: 0, model, data: [{ index: 0, object: 'pooling', data: [0.5] }], usage });
  }
}

/** Audio transcription: usage in seconds, no tokens (vLLM's shape). */
export function audio(ctx: AnswerContext): void {
  record(ctx, 0, 0, false, false);
  json(ctx.res, 200, { text: 'The quick brown fox', usage: { type: 'duration', seconds: 1 } });
}
