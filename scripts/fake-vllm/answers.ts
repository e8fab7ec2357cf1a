/**
 * What the stand-in answers on each token-spending route, in vLLM's shapes (reference/vllm.md
 * §4-5), counting every token it generates in `Tally` so tests can hold the gateway's meter
 * against it, aborted streams included.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pyBool, pyInt, pyStr, truthy, ValidationError } from './python.ts';

export const WORDS = ['The', ' quick', ' brown', ' fox', ' jumps', ' over', ' the', ' lazy', ' dog', '.'];
/** Tokens generated per choice when a request names no budget. */
export const DEFAULT_COMPLETION_TOKENS = 8;

/** Tokens the stand-in generated: totals, and per answer (the last 1,000). */
export interface Tally {
  prompt_tokens: number;
  completion_tokens: number;
  answers: Array<{ route: string; prompt_tokens: number; completion_tokens: number; stream: boolean; aborted: boolean }>;
}

export interface AnswerContext {
  req: IncomingMessage;
  res: ServerResponse;
  route: string;
  body: Record<string, unknown>;
  model: string;
  chunkDelayMs: number;
  dropAfterChunks?: number;
  tally: Tally;
  /** Called with the bytes of a stream that ran to its end. */
  onStreamEnd(sent: string, aborted: boolean): void;
}

/** Deterministic token counts: one per whitespace-separated word of every string in `value`. */
export function countWords(value: unknown): number {
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean).length;
  if (Array.isArray(value)) return value.reduce<number>((n, v) => n + countWords(v), 0);
  if (value && typeof value === 'object') return Object.values(value).reduce<number>((n, v) => n + countWords(v), 0);
  return 0;
}

/** Kept for callers of the first version: prompt tokens of a chat or completion body. */
export function countPromptTokens(body: { messages?: Array<{ content?: unknown }>; prompt?: unknown }): number {
  return countWords(body.messages ? body.messages.map((m) => m.content ?? '') : (body.prompt ?? ''));
}

export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function id(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 12)}`;
}

/** Adds one answer's tokens to the tally the tests compare the gateway's meter with. */
export function record(ctx: AnswerContext, prompt: number, completion: number, stream: boolean, aborted: boolean): void {
  ctx.tally.prompt_tokens += prompt;
  ctx.tally.completion_tokens += completion;
  ctx.tally.answers.push({ route: ctx.route, prompt_tokens: prompt, completion_tokens: completion, stream, aborted });
  if (ctx.tally.answers.length > 1_000) ctx.tally.answers.shift();
}

/**
 * Opens a server-sent event answer. `gone` turns true when the client leaves before the end;
 * `text` keeps what was written, for the tests' byte-for-byte checks.
 */
export function openEventStream(res: ServerResponse): { write(event: string): void; readonly gone: boolean; readonly text: string } {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  res.flushHeaders();
  const out = {
    gone: false,
    text: '',
    write(event: string): void {
      out.text += event;
      res.write(event);
    },
  };
  res.on('close', () => {
    if (!res.writableFinished) out.gone = true;
  });
  return out;
}

/**
 * Streams events, one per generated token, stopping when the client leaves. Returns how many
 * token events went out and whether the stream was cut.
 */
async function streamEvents(ctx: AnswerContext, head: string[], tokens: Array<() => string>, tail: () => string[]): Promise<{ sent: number; aborted: boolean }> {
  const { res } = ctx;
  const out = openEventStream(res);
  for (const e of head) out.write(e);
  let sent = 0;
  for (const token of tokens) {
    if (out.gone) break;
    if (ctx.dropAfterChunks !== undefined && sent >= ctx.dropAfterChunks) {
      res.socket?.destroy();
      return { sent, aborted: true };
    }
    out.write(token());
    sent += 1;
    await sleep(ctx.chunkDelayMs);
  }
  if (out.gone) {
    ctx.onStreamEnd(out.text, true);
    return { sent, aborted: true };
  }
  for (const e of tail()) out.write(e);
  res.end();
  ctx.onStreamEnd(out.text, false);
  return { sent, aborted: false };
}

const data = (payload: unknown): string => `data: ${JSON.stringify(payload)}\n\n`;

/** /v1/chat/completions and /v1/completions (and /invocations run as one of them). */
export async function completion(ctx: AnswerContext, chat: boolean): Promise<void> {
  const b = ctx.body;
  const stream = pyBool(b.stream, 'stream') ?? false;
  if (truthy(b.stream_options) && !truthy(b.stream)) throw new ValidationError('Stream options can only be defined when `stream=True`.');
  const max = (chat ? (pyInt(b.max_completion_tokens, 'max_completion_tokens') ?? pyInt(b.max_tokens, 'max_tokens')) : pyInt(b.max_tokens, 'max_tokens')) ?? DEFAULT_COMPLETION_TOKENS;
  const n = pyInt(b.n, 'n') ?? 1;
  const model = pyStr(b.model, 'model') || ctx.model;
  if (chat && !Array.isArray(b.messages)) throw new ValidationError('messages: Field required');
  const opts = (b.stream_options ?? {}) as Record<string, unknown>;
  const includeUsage = pyBool(opts.include_usage, 'stream_options.include_usage') ?? false;
  const perChunk = includeUsage && (pyBool(opts.continuous_usage_stats, 'stream_options.continuous_usage_stats') ?? false);
  const prompts = chat ? [countWords((b.messages as Array<{ content?: unknown }>).map((m) => m?.content ?? ''))]
    : Array.isArray(b.prompt) && b.prompt.length > 0 && (typeof b.prompt[0] === 'string' || Array.isArray(b.prompt[0])) ? (b.prompt as unknown[]).map((p) => (Array.isArray(p) ? p.length : countWords(p)))
    : [Array.isArray(b.prompt) ? b.prompt.length : countWords(b.prompt ?? '')];
  const tokens = Math.max(1, Math.min(1000, max));
  const promptTotal = prompts.reduce((a, p) => a + p, 0);
  const choices = prompts.length * n;
  const rid = id(chat ? 'chatcmpl' : 'cmpl');
  const created = Math.floor(Date.now() / 1000);
  const pieces = Array.from({ length: tokens }, (_, i) => WORDS[i % WORDS.length]!);

  if (!stream) {
    const list = Array.from({ length: choices }, (_, index) => chat
      ? { index, message: { role: 'assistant', content: pieces.join('') }, finish_reason: 'length' }
      : { index, text: pieces.join(''), finish_reason: 'length' });
    const usage = { prompt_tokens: promptTotal, completion_tokens: tokens * choices, total_tokens: promptTotal + tokens * choices };
    record(ctx, usage.prompt_tokens, usage.completion_tokens, false, false);
    return json(ctx.res, 200, { id: rid, object: chat ? 'chat.completion' : 'text_completion', created, model, choices: list, usage });
  }

  const object = chat ? 'chat.completion.chunk' : 'text_completion';
  const done = new Map<number, number>();
  const chunk = (index: number, i: number) => (): string => {
    done.set(index, i + 1);
    const choice = chat
      ? { index, delta: i === 0 ? { role: 'assistant', content: pieces[i] } : { content: pieces[i] }, finish_reason: i === tokens - 1 ? 'length' : null }
      : { index, text: pieces[i], finish_reason: i === tokens - 1 ? 'length' : null };
    const p = prompts[Math.floor(index / n)]!;
    // Per-chunk usage is for this choice only, cumulative (vLLM's continuous_usage_stats).
    const usage = perChunk ? { usage: { prompt_tokens: p, completion_tokens: i + 1, total_tokens: p + i + 1 } } : {};
    return data({ id: rid, object, created, model, choices: [choice], ...usage });
  };
  const events: Array<() => string> = [];
  for (let i = 0; i < tokens; i += 1) for (let c = 0; c < choices; c += 1) events.push(chunk(c, i));
  const final = { prompt_tokens: promptTotal, completion_tokens: tokens * choices, total_tokens: promptTotal + tokens * choices };
  const result = await streamEvents(ctx, [], events, () => [...(includeUsage ? [data({ id: rid, object, created, model, choices: [], usage: final })] : []), 'data: [DONE]\n\n']);
  const generated = [...done.values()].reduce((a, v) => a + v, 0);
  record(ctx, result.sent > 0 ? promptTotal : 0, generated, true, result.aborted);
}
