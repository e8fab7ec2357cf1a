import { request } from 'node:http';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { bearer, eventually, SHEET_ID, startStack, type Stack, type StackOptions } from '../support/stack.ts';

/**
 * Issue 14's bypasses, each sent through the real gateway to the stand-in vLLM (which reads
 * requests as vLLM does). Every one must end in a clear 4xx or in tokens metered equal to the
 * tokens the stand-in generated.
 */
const KEY = 'sk-convergence-14141414-0000-4000-8000-000000000001';
const LIMITED = 'sk-convergence-14141414-0000-4000-8000-000000000002';
const TPM = 'sk-convergence-14141414-0000-4000-8000-000000000003';
const HEADER = ['api_key', 'client_name', 'created_at', 'expires_at', 'is_active', 'rate_limit', 'allowed_models', 'tpm_limit'];
const ROWS = [
  [KEY, 'Acme', '', '', true, '', '', ''],
  [LIMITED, 'Limited', '', '', true, '', 'demo-model', ''],
  [TPM, 'Tokens', '', '', true, '', '', 50],
];

let stack: Stack | null = null;
afterEach(async () => {
  await stack?.close();
  stack = null;
});

async function start(opts: StackOptions = {}): Promise<Stack> {
  stack = await startStack({ ...opts, vllm: { models: ['demo-model', 'secret-model'], ...opts.vllm } });
  stack.sheets.setTab(SHEET_ID, 'API_Keys', [HEADER, ...ROWS] as never);
  await stack.gateway.auth.store!.reload();
  return stack;
}

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** node:http, so the path goes out exactly as written (fetch would normalise it). */
function raw(method: string, path: string, key: string | null, body?: string | Buffer, contentType = 'application/json'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = key ? bearer(key) : {};
    if (body !== undefined) headers['content-type'] = contentType;
    const req = request(`${stack!.url}${path}`, { method, headers, path }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Flushes usage to the fake sheet and adds up what the gateway metered for `clientName`. */
async function metered(clientName = 'Acme'): Promise<{ requests: number; prompt_tokens: number; completion_tokens: number }> {
  expect(await stack!.gateway.usage!.flush()).toBe(true);
  const [header, ...rows] = stack!.sheets.tab(SHEET_ID, 'Usage') ?? [[]];
  const col = (name: string) => header!.indexOf(name);
  const mine = rows.filter((r) => r[col('client_name')] === clientName);
  const sum = (name: string) => mine.reduce((n, r) => n + Number(r[col(name)]), 0);
  return { requests: sum('requests'), prompt_tokens: sum('prompt_tokens'), completion_tokens: sum('completion_tokens') };
}

/** What the stand-in generated, for comparison with `metered()`. */
function generated(): { prompt_tokens: number; completion_tokens: number } {
  return { prompt_tokens: stack!.vllm.tokens.prompt_tokens, completion_tokens: stack!.vllm.tokens.completion_tokens };
}

const chatBody = (extra: string) => `{"model":"demo-model","messages":[{"role":"user","content":"a b c"}],"max_tokens":5${extra}}`;

describe('bodies that Python reads differently', () => {
  it.each([
    ['"stream": 1', ',"stream":1'],
    ['"stream": "true"', ',"stream":"true"'],
    ['"stream": "yes"', ',"stream":"yes"'],
    ['"Stream": true', ',"Stream":true'],
    ['a duplicate "stream"', ',"stream":false,"stream":true'],
    ['NaN', ',"temperature":NaN'],
  ])('refuses %s with 400 invalid_request_body, and vLLM never sees it', async (_what, extra) => {
    await start();
    const res = await raw('POST', '/v1/chat/completions', KEY, chatBody(extra));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error.code).toBe('invalid_request_body');
    expect(stack!.vllm.requests).toHaveLength(0);
  });

  it('refuses a body with a byte-order mark, or in UTF-16', async () => {
    await start();
    for (const body of [Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(chatBody(',"stream":true'))]), Buffer.from(`\ufeff${chatBody('')}`, 'utf16le')]) {
      const res = await raw('POST', '/v1/chat/completions', KEY, body);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body).error.message).toMatch(/byte-order mark|UTF-16/);
    }
    expect(stack!.vllm.requests).toHaveLength(0);
  });
});

describe('paths that vLLM decodes', () => {
  it('refuses an encoded "/" and meters an encoded letter as the chat route it is', async () => {
    await start();
    const slash = await raw('POST', '/v1/chat%2Fcompletions', KEY, chatBody(''));
    expect(slash.status).toBe(400);
    expect(JSON.parse(slash.body).error.code).toBe('invalid_path');
    const letter = await raw('POST', '/v1/%63hat/completions', KEY, chatBody(',"stream":true'));
    expect(letter.status).toBe(200);
    expect(stack!.vllm.requests.at(-1)!.url).toBe('/v1/chat/completions');
    expect(generated().completion_tokens).toBe(5);
    expect(await metered()).toMatchObject({ requests: 1, ...generated() });
  });

  it('filters the model list however its path is spelled', async () => {
    await start();
    for (const path of ['/v1/models', '/v1/%6Dodels', '/v1/models/', '/v1/%6d%6F%64%65%6c%73?x=1']) {
      const res = await raw('GET', path, LIMITED);
      expect(res.status, path).toBe(200);
      expect(JSON.parse(res.body).data.map((m: { id: string }) => m.id), path).toEqual(['demo-model']);
    }
  });

  it('answers 400 invalid_path to malformed escapes and odd segments, with no stack trace in the log', async () => {
    await start();
    for (const path of ['/v1/models/%E0%A4%A', '/v1/models/%E0%A4', '/v1/%2e%2e/metrics', '//v1/models', '/v1/./models', '/v1/models%5C', '/v1/models%00']) {
      const res = await raw('GET', path, KEY);
      expect(res.status, path).toBe(400);
      expect(JSON.parse(res.body).error.code).toBe('invalid_path');
    }
    // Escapes that decode to something a second decoder would trip on: never a 500.
    for (const path of ['/admin/%25zz', '/admin/reload-keys%25E0', '/metrics%25', '/auth/status%3F', '/v1/models/%25E0%25A4%25A']) {
      const res = await raw('GET', path, KEY);
      expect(res.status, path).toBeLessThan(500);
    }
    expect(stack!.vllm.requests.filter((r) => !r.url.startsWith('/v1/models/'))).toHaveLength(0);
    expect(stack!.logs.join('\n')).not.toMatch(/unhandled error|URIError|"stack"/);
  });
});

describe('paths that are not for API clients', () => {
  it('never proxies /metrics, in any method or spelling', async () => {
    await start({ env: { ADMIN_API_KEY: 'admin-key-for-meter-tests' } });
    for (const [method, path] of [['POST', '/metrics'], ['PUT', '/metrics'], ['GET', '/metrics/'], ['GET', '/%6Detrics'], ['DELETE', '/metrics'], ['GET', '/metrics/x']]) {
      const res = await raw(method!, path!, KEY);
      expect([403, 404], `${method} ${path}`).toContain(res.status);
    }
    expect(stack!.vllm.opsCalls).toEqual([]);
    expect(stack!.vllm.requests).toHaveLength(0);
  });

  it("answers 404 for vLLM's dev, admin and LoRA routes in every method", async () => {
    await start();
    for (const path of ['/reset_prefix_cache', '/sleep', '/collective_rpc', '/v1/load_lora_adapter', '/v1/unload_lora_adapter', '/scale_elastic_ep', '/start_profile', '/V1/models', '/v1foo']) {
      for (const method of ['GET', 'POST']) {
        const res = await raw(method, path, KEY, method === 'POST' ? '{}' : undefined);
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(JSON.parse(res.body).error.code).toBe('not_found');
      }
    }
    expect(stack!.vllm.opsCalls).toEqual([]);
    expect(stack!.vllm.requests).toHaveLength(0);
  });
});

describe('endpoints that spend tokens', () => {
  it('meters /v1/responses, JSON and streamed', async () => {
    await start();
    const openai = new OpenAI({ apiKey: KEY, baseURL: `${stack!.url}/v1`, maxRetries: 0 });
    const answer = await openai.responses.create({ model: 'demo-model', input: 'one two three', max_output_tokens: 4 });
    expect(answer.usage).toMatchObject({ input_tokens: 3, output_tokens: 4 });
    const stream = await openai.responses.create({ model: 'demo-model', input: 'a b', max_output_tokens: 6, stream: true });
    let deltas = 0;
    for await (const event of stream) if (event.type === 'response.output_text.delta') deltas += 1;
    expect(deltas).toBe(6);
    expect(generated()).toEqual({ prompt_tokens: 5, completion_tokens: 10 });
    expect(await metered()).toEqual({ requests: 2, ...generated() });
  });
});

describe('every endpoint that spends tokens', () => {
  it('meters messages, embeddings, pooling, classify, score, rerank, /v2/embed and /invocations as generated', async () => {
    await start();
    const openai = new OpenAI({ apiKey: KEY, baseURL: `${stack!.url}/v1`, maxRetries: 0 });
    const embedding = await openai.embeddings.create({ model: 'demo-model', input: ['one two', 'three'] });
    expect(embedding.usage.prompt_tokens).toBe(3);
    const calls: Array<[string, Record<string, unknown>]> = [
      ['/v1/messages', { model: 'demo-model', max_tokens: 4, messages: [{ role: 'user', content: 'a b c d' }] }],
      ['/v1/messages', { model: 'demo-model', max_tokens: 3, stream: true, messages: [{ role: 'user', content: 'a b c' }] }],
      ['/pooling', { model: 'demo-model', input: 'a b c' }],
      ['/classify', { model: 'demo-model', input: ['a', 'b'] }],
      ['/score', { model: 'demo-model', text_1: 'a b', text_2: 'c' }],
      ['/v1/score', { model: 'demo-model', text_1: 'a', text_2: 'c' }],
      ['/rerank', { model: 'demo-model', query: 'a b', documents: ['c d', 'e'] }],
      ['/v1/rerank', { model: 'demo-model', query: 'a', documents: ['b'] }],
      ['/v2/rerank', { model: 'demo-model', query: 'a', documents: ['b', 'c'] }],
      ['/v2/embed', { model: 'demo-model', texts: ['a b c d e'], input_type: 'search_document', embedding_types: ['float'] }],
      ['/invocations', { model: 'demo-model', messages: [{ role: 'user', content: 'a b' }], max_tokens: 3 }],
      ['/invocations', { model: 'demo-model', prompt: 'a b c', max_tokens: 2, stream: true }],
      ['/invocations', { model: 'demo-model', input: 'a b' }],
      ['/v1/chat/completions/batch', { model: 'demo-model', messages: [{ role: 'user', content: 'a' }], max_tokens: 2 }],
      ['/v1/completions', { model: 'demo-model', prompt: ['a b', 'c'], max_tokens: 2, n: 2 }],
    ];
    for (const [path, body] of calls) {
      const res = await raw('POST', path, KEY, JSON.stringify(body));
      expect(res.status, path).toBe(200);
    }
    const made = generated();
    expect(made.prompt_tokens).toBeGreaterThan(30);
    expect(made.completion_tokens).toBe(4 + 3 + 3 + 2 + 2 + 2 * 2 * 2);
    expect(await metered()).toEqual({ requests: calls.length + 1, ...made });
  });

  it('counts audio as requests only (vLLM reports seconds, not tokens)', async () => {
    await start();
    const form = new FormData();
    form.append('model', 'demo-model');
    form.append('file', new Blob([Buffer.alloc(64)]), 'a.wav');
    const res = await fetch(`${stack!.url}/v1/audio/transcriptions`, { method: 'POST', headers: bearer(KEY), body: form });
    expect(res.status).toBe(200);
    expect(await metered()).toEqual({ requests: 1, prompt_tokens: 0, completion_tokens: 0 });
  });

  it('meters n > 1 and a list of prompts from the final usage chunk, which it hides', async () => {
    await start();
    const text = await (await fetch(`${stack!.url}/v1/completions`, {
      method: 'POST',
      headers: { ...bearer(KEY), 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo-model', prompt: ['a b', 'c d e'], max_tokens: 3, n: 2, stream: true }),
    })).text();
    expect(text).not.toContain('usage');
    expect(generated()).toEqual({ prompt_tokens: 5, completion_tokens: 12 });
    expect(await metered()).toEqual({ requests: 1, ...generated() });
  });
});

/** Streams a chat completion and hangs up once `events` events have arrived; resolves with them. */
function hangUpAfter(events: number, body: Record<string, unknown>): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${stack!.url}/v1/chat/completions`, { method: 'POST', headers: { ...bearer(KEY), 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        if (text.split('\n\n').length > events) {
          req.destroy();
          resolve(text);
        }
      });
      res.on('error', () => undefined);
    });
    req.on('error', () => undefined);
    req.on('close', () => resolve(''));
    req.end(JSON.stringify(body));
    setTimeout(() => reject(new Error('stream did not start')), 5_000).unref();
  });
}

describe('streams cut short', () => {
  it('meters the tokens generated before a client hangs up, n > 1 included', async () => {
    // Paced chunks: the hang-up reaches vLLM long before its next token, so nothing is in flight.
    await start({ vllm: { chunkDelayMs: 60 } });
    for (const n of [1, 3]) {
      const seen = await hangUpAfter(7, { model: 'demo-model', messages: [{ role: 'user', content: 'a b c d' }], max_tokens: 200, n, stream: true, temperature: 1 });
      expect(seen).not.toContain('usage'); // the per-chunk usage it did not ask for is hidden
      await eventually(() => stack!.vllm.abortedStreams === (n === 1 ? 1 : 2), 'upstream saw the abort');
    }
    await eventually(() => stack!.logs.filter((l) => l.includes('"outcome":"client_aborted"')).length === 2, 'both requests ended');
    const made = generated();
    expect(stack!.vllm.tokens.answers.map((a) => a.completion_tokens)).toEqual([7, 7]);
    expect(await metered()).toEqual({ requests: 2, ...made });
  });

  it('meters a stream the client reads with the OpenAI SDK and abandons', async () => {
    await start({ vllm: { chunkDelayMs: 60 } });
    const openai = new OpenAI({ apiKey: KEY, baseURL: `${stack!.url}/v1`, maxRetries: 0 });
    const controller = new AbortController();
    const stream = await openai.chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'a b' }], max_tokens: 200, stream: true }, { signal: controller.signal });
    let chunks = 0;
    try {
      for await (const chunk of stream) {
        expect(chunk.usage ?? undefined).toBeUndefined();
        if (++chunks === 5) controller.abort();
      }
    } catch {
      // aborted
    }
    await eventually(() => stack!.vllm.abortedStreams === 1, 'upstream saw the abort');
    await eventually(() => stack!.logs.some((l) => l.includes('"outcome":"client_aborted"')), 'request ended');
    expect(generated().completion_tokens).toBeGreaterThanOrEqual(5);
    expect(await metered()).toEqual({ requests: 1, ...generated() });
  });
});

describe('token limits under concurrency', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });

  for (const backend of ['memory', 'redis'] as const) {
    it(`admits at most one of 10 concurrent streams of max_tokens 100 against tpm_limit 50 (${backend})`, async () => {
      await start({ env: backend === 'redis' ? { REDIS_URL: redis.url } : {}, vllm: { chunkDelayMs: 5 } });
      if (backend === 'redis') {
        await eventually(async () => (await (await fetch(`${stack!.url}/auth/status`)).json()).rate_limiter.redis === 'ok', 'redis ready');
      }
      const body = JSON.stringify({ model: 'demo-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100, stream: true });
      const answers = await Promise.all(Array.from({ length: 10 }, () => raw('POST', '/v1/chat/completions', TPM, body)));
      const admitted = answers.filter((a) => a.status === 200);
      expect(admitted.length).toBe(1);
      expect(answers.filter((a) => a.status === 429).every((a) => JSON.parse(a.body).error.code === 'token_limit_exceeded')).toBe(true);
      expect(generated().completion_tokens).toBe(100);
      expect(await metered('Tokens')).toMatchObject({ requests: 1, ...generated() });
      // Settled to what it spent (101 > 50): nothing more fits until that leaves the window.
      const after = await raw('POST', '/v1/chat/completions', TPM, JSON.stringify({ model: 'demo-model', messages: [], max_tokens: 1 }));
      expect(after.status).toBe(429);
      expect(Number(after.headers['retry-after'])).toBeGreaterThan(50);
    });
  }
});

describe('without keys (AUTH_ENABLED=false)', () => {
  it('reads the body the same way and still hides the usage it asked for', async () => {
    stack = await startStack({ env: { AUTH_ENABLED: 'false' } });
    const res = await raw('POST', '/v1/chat/completions', null, chatBody(',"stream":true'));
    expect(res.status).toBe(200);
    expect(res.body).not.toContain('usage');
    expect(JSON.parse(stack.vllm.requests.at(-1)!.body).stream_options).toEqual({ include_usage: true, continuous_usage_stats: true });
    expect((await raw('POST', '/v1/chat/completions', null, chatBody(',"stream":"yes"'))).status).toBe(400);
    expect((await raw('GET', '/sleep', null)).status).toBe(404);
  });
});

describe('PROXY_PATHS', () => {
  it('replaces the allow-list', async () => {
    await start({ env: { PROXY_PATHS: '/v1/chat/completions' } });
    expect((await raw('POST', '/v1/chat/completions', KEY, chatBody(''))).status).toBe(200);
    expect((await raw('GET', '/v1/models', KEY)).status).toBe(404);
    expect((await raw('POST', '/tokenize', KEY, '{"prompt":"a"}')).status).toBe(404);
    expect(stack!.vllm.requests).toHaveLength(1);
  });
});
