import { describe, expect, it } from 'vitest';
import { toTokenUsage } from '../../server/usage/extract.ts';
import { JsonUsageTap, SseUsageTap, type StreamWants } from '../../server/usage/taps.ts';

function feed(tap: JsonUsageTap | SseUsageTap, text: string, cut: number[]): string {
  const bytes = Buffer.from(text);
  let out = '';
  let from = 0;
  for (const at of [...cut, bytes.length]) {
    out += tap.chunk(bytes.subarray(from, at)).toString();
    from = at;
  }
  out += tap.end()?.toString() ?? '';
  return out;
}

describe('JsonUsageTap', () => {
  const answer = JSON.stringify({
    id: 'x', choices: [{ message: { content: 'say "usage":{"prompt_tokens":999}', tool: { usage: { prompt_tokens: 555 } } } }],
    usage: { prompt_tokens: 7, completion_tokens: 3 }, tail: [1, { usage: 2 }],
  });

  it('reads only the top-level usage, wherever the answer is split', () => {
    for (let at = 0; at <= answer.length; at += 1) {
      const tap = new JsonUsageTap();
      expect(feed(tap, answer, [at])).toBe(answer);
      expect(tap.usage, `split at ${at}`).toEqual({ prompt_tokens: 7, completion_tokens: 3 });
    }
  });

  it('reads every usage shape vLLM answers with', () => {
    const read = (body: unknown): unknown => {
      const tap = new JsonUsageTap();
      feed(tap, JSON.stringify(body), []);
      return tap.usage;
    };
    expect(read({ usage: { input_tokens: 5, output_tokens: 2, input_tokens_details: { cached_tokens: 4 } } })).toEqual({ prompt_tokens: 5, completion_tokens: 2 });
    expect(read({ usage: { input_tokens: 2, cache_read_input_tokens: 3, cache_creation_input_tokens: 1, output_tokens: 4 } })).toEqual({ prompt_tokens: 6, completion_tokens: 4 });
    expect(read({ usage: { prompt_tokens: 9, total_tokens: 9 } })).toEqual({ prompt_tokens: 9, completion_tokens: 0 });
    expect(read({ meta: { billed_units: { input_tokens: 8, image_tokens: 2 } } })).toEqual({ prompt_tokens: 10, completion_tokens: 0 });
    expect(read({ usage: { type: 'duration', seconds: 3 } })).toBeNull();
    expect(read({ data: [] })).toBeNull();
    expect(toTokenUsage({ prompt_tokens: -1, completion_tokens: 'x' })).toEqual({ prompt_tokens: 0, completion_tokens: 0 });
  });
});

const chunk = (index: number, content: string, usage?: { p: number; c: number }): string =>
  `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":${index},"delta":{"content":"${content}"}}]${usage ? `,"usage":{"prompt_tokens":${usage.p},"completion_tokens":${usage.c},"total_tokens":${usage.p + usage.c}}` : ''}}\n\n`;
const finalChunk = (p: number, c: number): string => `data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":${p},"completion_tokens":${c},"total_tokens":${p + c}}}\n\n`;
const chat = (wants: Partial<StreamWants> = {}): SseUsageTap => new SseUsageTap({ kind: 'chat', final: false, perChunk: false, n: 1, ...wants });

describe('SseUsageTap (chat, completions)', () => {
  const stream = chunk(0, 'a', { p: 4, c: 1 }) + chunk(1, 'b', { p: 4, c: 1 }) + chunk(0, 'c', { p: 4, c: 2 }) + chunk(1, 'd', { p: 4, c: 2 }) + chunk(0, 'e', { p: 4, c: 3 });

  it('adds per-choice usage up when the stream is cut before the usage chunk (n > 1)', () => {
    const tap = chat({ n: 2 });
    feed(tap, stream, [50, 51, 200]);
    expect(tap.usage).toEqual({ prompt_tokens: 4, completion_tokens: 5 });
  });

  it('counts the prompt once per prompt of a list (choice index / n)', () => {
    const tap = new SseUsageTap({ kind: 'completion', final: false, perChunk: false, n: 2 });
    feed(tap, chunk(0, 'a', { p: 2, c: 1 }) + chunk(1, 'a', { p: 2, c: 1 }) + chunk(2, 'a', { p: 3, c: 1 }) + chunk(3, 'a', { p: 3, c: 2 }), []);
    expect(tap.usage).toEqual({ prompt_tokens: 5, completion_tokens: 5 });
  });

  it('hides what the client did not ask for, and only that, wherever the stream is split', () => {
    const full = stream + finalChunk(4, 5) + 'data: [DONE]\n\n';
    const bare = [chunk(0, 'a'), chunk(1, 'b'), chunk(0, 'c'), chunk(1, 'd'), chunk(0, 'e')].join('') + 'data: [DONE]\n\n';
    for (let at = 0; at < full.length; at += 7) {
      const none = chat({ n: 2 });
      expect(feed(none, full, [at])).toBe(bare);
      expect(none.usage).toEqual({ prompt_tokens: 4, completion_tokens: 5 });
      const final = chat({ n: 2, final: true });
      expect(feed(final, full, [at])).toBe(bare.replace('data: [DONE]', `${finalChunk(4, 5).trim()}\n\ndata: [DONE]`));
      const all = chat({ n: 2, final: true, perChunk: true });
      expect(feed(all, full, [at])).toBe(full);
    }
  });

  it('takes usage out of a chunk whose usage is not last, by re-serialising that chunk only', () => {
    const odd = 'data: {"id":"c","usage":{"prompt_tokens":1,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":0}},"choices":[{"index":0,"delta":{"content":"é"}}]}\n\n';
    const tap = chat();
    expect(feed(tap, odd, [])).toBe('data: {"id":"c","choices":[{"index":0,"delta":{"content":"é"}}]}\n\n');
    expect(tap.usage).toEqual({ prompt_tokens: 1, completion_tokens: 1 });
  });
});

describe('SseUsageTap (responses, messages)', () => {
  const frame = (type: string, payload: Record<string, unknown>): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`;

  it('reads response.completed, and counts the deltas of a responses stream cut short', () => {
    const head = frame('response.created', { response: { usage: null } }) + frame('response.output_text.delta', { delta: 'a' }) + frame('response.output_text.delta', { delta: 'b' });
    const cut = new SseUsageTap({ kind: 'responses', final: false, perChunk: false, n: 1 });
    expect(feed(cut, head, [10])).toBe(head);
    expect(cut.usage).toEqual({ prompt_tokens: 0, completion_tokens: 2 });
    const done = new SseUsageTap({ kind: 'responses', final: false, perChunk: false, n: 1 });
    feed(done, head + frame('response.completed', { response: { usage: { input_tokens: 6, output_tokens: 2 } } }), []);
    expect(done.usage).toEqual({ prompt_tokens: 6, completion_tokens: 2 });
  });

  it('reads message_start and message_delta (cache fields included), or the deltas so far', () => {
    const start = frame('message_start', { message: { usage: { input_tokens: 2, cache_read_input_tokens: 3, output_tokens: 0 } } });
    const delta = frame('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'x' } });
    const cut = new SseUsageTap({ kind: 'messages', final: false, perChunk: false, n: 1 });
    feed(cut, start + delta + delta, []);
    expect(cut.usage).toEqual({ prompt_tokens: 5, completion_tokens: 2 });
    const done = new SseUsageTap({ kind: 'messages', final: false, perChunk: false, n: 1 });
    feed(done, start + delta + frame('message_delta', { usage: { output_tokens: 7 } }) + frame('message_stop', {}), []);
    expect(done.usage).toEqual({ prompt_tokens: 5, completion_tokens: 7 });
  });
});
