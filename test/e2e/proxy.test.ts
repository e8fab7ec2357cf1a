import { request } from 'node:http';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { bearer, eventually, startStack, type Stack } from '../support/stack.ts';

const KEY = 'sk-convergence-cccccccc-0000-4000-8000-000000000001';
let stack: Stack | null = null;
afterEach(async () => {
  await stack?.close();
  stack = null;
});

function client(): OpenAI {
  return new OpenAI({ apiKey: KEY, baseURL: `${stack!.url}/v1`, maxRetries: 0 });
}

describe('proxying with the official OpenAI client', () => {
  it('passes a non-streaming chat completion through', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']] });
    const answer = await client().chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'hello there' }], max_tokens: 4 });
    expect(answer.choices[0]!.message.content).toBe('The quick brown fox');
    expect(answer.usage).toMatchObject({ prompt_tokens: 2, completion_tokens: 4 });
    const completion = await client().completions.create({ model: 'demo-model', prompt: 'a b c', max_tokens: 2 });
    expect(completion.choices[0]!.text).toBe('The quick');
  });

  it('streams chunk by chunk: each chunk reaches the client while the model is still generating', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']], vllm: { chunkDelayMs: 40 } });
    const stream = await client().chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 6, stream: true });
    const upstreamDoneAtChunk: boolean[] = [];
    let text = '';
    for await (const chunk of stream) {
      upstreamDoneAtChunk.push(stack.vllm.completedStreams > 0);
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    expect(text).toBe('The quick brown fox jumps over');
    // Buffering would deliver everything after the upstream finished.
    expect(upstreamDoneAtChunk.slice(0, 5)).toEqual([false, false, false, false, false]);
  });

  it('aborts the upstream request when the client disconnects, and keeps serving', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']], vllm: { chunkDelayMs: 30 } });
    const controller = new AbortController();
    const stream = await client().chat.completions.create(
      { model: 'demo-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 200, stream: true },
      { signal: controller.signal },
    );
    let seen = 0;
    try {
      for await (const _ of stream) {
        seen += 1;
        if (seen === 2) controller.abort();
      }
    } catch {
      // The SDK may end the iteration quietly or throw an abort error; either way the client left.
    }
    expect(seen).toBeLessThan(10);
    await eventually(() => stack!.vllm.abortedStreams === 1, 'upstream saw the abort', 3_000);
    expect(stack.vllm.completedStreams).toBe(0);
    await eventually(() => stack!.logs.some((l) => l.includes('"outcome":"client_aborted"')), 'access log of the abort');
    const after = await client().models.list();
    expect(after.data[0]!.id).toBe('demo-model');
  });

  it('survives an upstream that drops the connection mid-stream', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']], vllm: { dropAfterChunks: 2 } });
    const stream = await client().chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10, stream: true });
    await expect((async () => { for await (const _ of stream) { /* drain */ } })()).rejects.toThrow();
    await eventually(() => stack!.logs.some((l) => l.includes('"outcome":"upstream_failed"')), 'logged as upstream failure');
    expect((await fetch(`${stack.url}/v1/models`, { headers: bearer(KEY) })).status).toBe(200);
  });

  it('passes upstream error statuses and bodies through unchanged', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']] });
    const res = await fetch(`${stack.url}/v1/nothing-here`, { headers: bearer(KEY) });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ object: 'error', type: 'NotFoundError' });
    expect(res.headers.get('x-client-name')).toBe('Acme');
  });
});

describe('upstream failures and limits', () => {
  it('answers 502 upstream_unavailable when vLLM is down', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']] });
    await stack.vllm.close();
    const res = await fetch(`${stack.url}/v1/models`, { headers: bearer(KEY) });
    expect(res.status).toBe(502);
    expect((await res.json()).error).toMatchObject({ code: 'upstream_unavailable', type: 'server_error' });
  });

  it('answers 504 upstream_timeout when no headers come within UPSTREAM_TIMEOUT', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']], env: { UPSTREAM_TIMEOUT: '0.2' }, vllm: { headerDelayMs: 1_000 } });
    const res = await fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST', headers: { ...bearer(KEY), 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [] }),
    });
    expect(res.status).toBe(504);
    expect((await res.json()).error.code).toBe('upstream_timeout');
  });

  it('never cuts a streaming body with UPSTREAM_TIMEOUT', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']], env: { UPSTREAM_TIMEOUT: '0.2' }, vllm: { chunkDelayMs: 100 } });
    const stream = await client().chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, stream: true });
    let n = 0;
    for await (const _ of stream) n += 1;
    expect(n).toBe(5);
  });

  it('answers 413 request_too_large for a declared or a chunked body over the limit', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']], env: { MAX_REQUEST_BODY_BYTES: '1000' } });
    const big = JSON.stringify({ model: 'm', prompt: 'x'.repeat(2_000) });
    const declared = await fetch(`${stack.url}/v1/completions`, { method: 'POST', headers: { ...bearer(KEY), 'content-type': 'application/json' }, body: big });
    expect(declared.status).toBe(413);
    expect((await declared.json()).error.code).toBe('request_too_large');
    expect(stack.vllm.requests).toHaveLength(0);

    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${stack!.url}/v1/completions`, { method: 'POST', headers: { ...bearer(KEY), 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      for (let i = 0; i < 4; i += 1) req.write(big.slice(i * 500, (i + 1) * 500));
      req.end(big.slice(2_000));
    });
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body).error.code).toBe('request_too_large');

    const small = await fetch(`${stack.url}/v1/completions`, { method: 'POST', headers: { ...bearer(KEY), 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'hi' }) });
    expect(small.status).toBe(200);
  });
});
