import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeVllm, type FakeVllm } from '../../scripts/fake-vllm.ts';

/** The stand-in must read requests the way vLLM does (reference/vllm.md), or tests miss differentials. */
let vllm: FakeVllm;
beforeAll(async () => {
  vllm = await startFakeVllm({ apiKey: 'upstream-key' });
});
afterAll(async () => {
  await vllm.close();
});

function send(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${vllm.url}${path}`, { method, path, headers: { authorization: 'Bearer upstream-key', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const chat = (extra: string) => `{"model":"demo-model","messages":[{"role":"user","content":"a b"}],"max_tokens":2${extra}}`;

describe('the stand-in vLLM', () => {
  it('routes on the percent-decoded path, redirects a trailing slash, collapses nothing', async () => {
    expect((await send('POST', '/v1/chat%2Fcompletions', chat(''))).status).toBe(200);
    expect((await send('POST', '/v1/%63hat/completions', chat(''))).status).toBe(200);
    const slash = await send('POST', '/v1/chat/completions/', chat(''), { host: 'example.test' });
    expect(slash.status).toBe(307);
    expect(slash.headers.location).toBe('http://example.test/v1/chat/completions');
    for (const path of ['//v1/models', '/x/../v1/models', '/V1/models', '/v1/./models', '/v1/models/demo-model']) expect((await send('GET', path)).status, path).toBe(404);
  });

  it("reads bodies as Python's json.loads: BOM, UTF-16, NaN, the last duplicate key", async () => {
    const streams = (r: { text: string }) => r.text.startsWith('data: ');
    expect(streams(await send('POST', '/v1/chat/completions', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(chat(',"stream":true'))])))).toBe(true);
    expect(streams(await send('POST', '/v1/chat/completions', Buffer.from(`\ufeff${chat(',"stream":true')}`, 'utf16le')))).toBe(true);
    expect((await send('POST', '/v1/chat/completions', chat(',"temperature":NaN'))).status).toBe(200);
    expect(streams(await send('POST', '/v1/chat/completions', chat(',"stream":false,"stream":true')))).toBe(true);
    expect((await send('POST', '/v1/chat/completions', chat(''), { 'content-type': 'text/plain' })).status).toBe(400);
  });

  it("coerces like pydantic's lax mode", async () => {
    for (const value of ['1', '"true"', '"yes"', '"ON"', '"t"', '"Y"']) {
      expect((await send('POST', '/v1/chat/completions', chat(`,"stream":${value}`))).text, value).toMatch(/^data: /);
    }
    expect((await send('POST', '/v1/chat/completions', chat(',"Stream":true'))).text).toMatch(/^\{/);
    expect((await send('POST', '/v1/chat/completions', chat(',"stream":2'))).status).toBe(400);
    const answer = JSON.parse((await send('POST', '/v1/completions', '{"prompt":"a","max_tokens":"3","n":2.0}')).text);
    expect(answer.usage).toEqual({ prompt_tokens: 1, completion_tokens: 6, total_tokens: 7 });
    // stream_options without a (truthy) stream is refused before coercion; "false" is truthy there.
    expect((await send('POST', '/v1/chat/completions', chat(',"stream_options":{"include_usage":true}'))).status).toBe(400);
    expect((await send('POST', '/v1/chat/completions', chat(',"stream":"false","stream_options":{"include_usage":true}'))).status).toBe(200);
  });

  it('sends per-chunk usage per choice only with include_usage and continuous_usage_stats', async () => {
    const text = (await send('POST', '/v1/chat/completions', chat(',"n":2,"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}'))).text;
    const events = text.split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));
    expect(events.map((e) => [e.choices[0]?.index ?? null, e.usage.completion_tokens])).toEqual([[0, 1], [1, 1], [0, 2], [1, 2], [null, 4]]);
  });

  it('guards only /v1, /v2, /inference and /cohere with --api-key, and counts what it generates', async () => {
    expect((await send('GET', '/v1/models', undefined, { authorization: '' })).status).toBe(401);
    expect((await send('GET', '/%761/models', undefined, { authorization: '' })).status).toBe(401);
    const before = vllm.tokens.completion_tokens;
    expect((await send('POST', '/invocations', chat(''), { authorization: '' })).status).toBe(200);
    expect(vllm.tokens.completion_tokens - before).toBe(2);
    expect((await send('POST', '/metrics', '{}', { authorization: '' })).status).toBe(200);
    expect((await send('POST', '/sleep', '{}', { authorization: '' })).status).toBe(200);
    expect(vllm.opsCalls).toEqual(['POST /metrics', 'POST /sleep']);
  });
});
