import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { keyId, sha256Hex } from '../../server/keys/keyid.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { bearer, eventually, startStack, type Stack } from '../support/stack.ts';

const PLAIN = 'sk-convergence-ffffffff-0000-4000-8000-000000000001';
const HASHED = 'sk-convergence-ffffffff-0000-4000-8000-000000000002';
const BOTH = 'sk-convergence-ffffffff-0000-4000-8000-000000000003';
const LIMITED = 'sk-convergence-ffffffff-0000-4000-8000-000000000004';
const TPM = 'sk-convergence-ffffffff-0000-4000-8000-000000000005';
const HEADER = ['api_key', 'api_key_sha256', 'key_hint', 'client_name', 'created_at', 'expires_at', 'is_active', 'rate_limit', 'allowed_models', 'tpm_limit'];
const row = (key: string, hashed: boolean, name: string, extra: { models?: string; tpm?: number | string; limit?: number | string } = {}) => [
  hashed ? '' : key, hashed ? sha256Hex(key) : '', `sk-convergence-…${key.slice(-4)}`, name, '', '', true, extra.limit ?? '', extra.models ?? '', extra.tpm ?? '',
];

let stack: Stack | null = null;
afterEach(async () => {
  await stack?.close();
  stack = null;
});

async function start(rows: unknown[][], env: Record<string, string> = {}): Promise<Stack> {
  stack = await startStack({ rows: [], env, vllm: { models: ['demo-model', 'secret-model', 'small-model'] } });
  const { SHEET_ID } = await import('../support/stack.ts');
  stack.sheets.setTab(SHEET_ID, 'API_Keys', [HEADER, ...(rows as never[][])]);
  await stack.gateway.auth.store!.reload();
  return stack;
}

const chat = (key: string, body: Record<string, unknown>) =>
  fetch(`${stack!.url}/v1/chat/completions`, { method: 'POST', headers: { ...bearer(key), 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('hashed keys', () => {
  it('accepts a row holding only the SHA-256 of the key, and rejects a key both hashed and plain', async () => {
    await start([row(PLAIN, false, 'Plain'), row(HASHED, true, 'Hashed'), row(BOTH, false, 'Both plain'), row(BOTH, true, 'Both hashed'), ['', 'not-hex', '', 'Bad', '', '', true, '', '', '']]);
    const status = await (await fetch(`${stack!.url}/auth/status`)).json();
    expect(status).toMatchObject({ keys_loaded: 2, rows_rejected: 3 });
    const hashed = await fetch(`${stack!.url}/v1/models`, { headers: bearer(HASHED) });
    expect(hashed.status).toBe(200);
    expect(hashed.headers.get('x-client-name')).toBe('Hashed');
    expect((await fetch(`${stack!.url}/v1/models`, { headers: bearer(PLAIN) })).status).toBe(200);
    expect((await fetch(`${stack!.url}/v1/models`, { headers: bearer(BOTH) })).status).toBe(401);
    const rejected = stack!.logs.filter((l) => l.includes('key row rejected')).map((l) => JSON.parse(l));
    expect(rejected.map((r) => r.row).sort()).toEqual([4, 5, 6]);
    expect(rejected.find((r) => r.row === 6).reason).toContain('api_key_sha256');
    expect(stack!.logs.join('')).not.toContain(HASHED);
    expect(stack!.logs.some((l) => l.includes(keyId(HASHED)))).toBe(true);
  });
});

describe('policy columns in the key file', () => {
  it('reads hashed keys, allow-lists and token limits from KEYS_FILE too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cg-policy-'));
    const keysFile = join(dir, 'keys.csv');
    const line = (cells: unknown[]) => cells.map((c) => `"${String(c)}"`).join(',');
    writeFileSync(keysFile, [line(HEADER), line(row(HASHED, true, 'Hashed', { models: 'demo-model', tpm: 5 })), line(row(HASHED, false, 'Dup'))].join('\n'));
    stack = await startStack({ env: { GOOGLE_SHEET_ID: '', KEYS_FILE: keysFile } });
    expect(await (await fetch(`${stack.url}/auth/status`)).json()).toMatchObject({ mode: 'file', keys_loaded: 0, rows_rejected: 2 });
    writeFileSync(keysFile, [line(HEADER), line(row(HASHED, true, 'Hashed', { models: 'demo-model', tpm: 5 }))].join('\n'));
    await stack.gateway.auth.store!.reload();
    expect((await chat(HASHED, { model: 'secret-model', messages: [] })).status).toBe(403);
    const ok = await chat(HASHED, { model: 'demo-model', messages: [], max_tokens: 6 });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-ratelimit-limit-tokens')).toBe('5');
    await ok.json();
    await eventually(async () => (await chat(HASHED, { model: 'demo-model', messages: [] })).status === 429, 'token limit from the file');
  });
});

describe('model allow-lists', () => {
  it('lets a key use only its models, filters /v1/models, and leaves other keys alone', async () => {
    await start([row(LIMITED, true, 'Limited', { models: 'demo-model, small-model' }), row(PLAIN, false, 'Free')]);
    expect((await chat(LIMITED, { model: 'demo-model', messages: [] })).status).toBe(200);
    const before = stack!.vllm.requests.length;
    const denied = await chat(LIMITED, { model: 'secret-model', messages: [] });
    expect(denied.status).toBe(403);
    expect((await denied.json()).error).toMatchObject({ code: 'model_not_allowed', type: 'permission_error' });
    expect((await chat(LIMITED, { messages: [] })).status).toBe(403);
    const embeddings = await fetch(`${stack!.url}/v1/embeddings`, { method: 'POST', headers: { ...bearer(LIMITED), 'content-type': 'application/json' }, body: '{"model":"secret-model","input":"x"}' });
    expect(embeddings.status).toBe(403);
    const form = await fetch(`${stack!.url}/v1/audio/transcriptions`, { method: 'POST', headers: { ...bearer(LIMITED), 'content-type': 'text/plain' }, body: 'model=secret-model' });
    expect(form.status).toBe(403);
    expect((await fetch(`${stack!.url}/v1/models/secret-model`, { headers: bearer(LIMITED) })).status).toBe(403);
    expect(stack!.vllm.requests.length).toBe(before);

    const openai = new OpenAI({ apiKey: LIMITED, baseURL: `${stack!.url}/v1`, maxRetries: 0 });
    expect((await openai.models.list()).data.map((m) => m.id)).toEqual(['demo-model', 'small-model']);
    const free = new OpenAI({ apiKey: PLAIN, baseURL: `${stack!.url}/v1`, maxRetries: 0 });
    expect((await free.models.list()).data.map((m) => m.id)).toEqual(['demo-model', 'secret-model', 'small-model']);
    // A key without the column: its body is not inspected at all.
    expect((await chat(PLAIN, { model: 'secret-model', messages: [] })).status).toBe(200);
    const text = await fetch(`${stack!.url}/v1/echo-upload`, { method: 'POST', headers: { ...bearer(PLAIN), 'content-type': 'text/plain' }, body: 'not json' });
    expect(text.status).toBe(404); // reached the upstream, which has no such route
  });

  it('inspects a body only up to the body limit', async () => {
    await start([row(LIMITED, false, 'Limited', { models: 'demo-model' })], { MAX_REQUEST_BODY_BYTES: '200' });
    const res = await chat(LIMITED, { model: 'demo-model', messages: [{ role: 'user', content: 'x'.repeat(500) }] });
    expect(res.status).toBe(413);
  });
});

describe('token limits', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });

  for (const backend of ['memory', 'redis'] as const) {
    it(`counts tokens per window (${backend}), streams included, and answers 429 token_limit_exceeded`, async () => {
      await start([row(TPM, false, 'Tokens', { tpm: 30 }), row(PLAIN, false, 'Free')], {
        RATE_LIMIT_WINDOW: '2',
        ...(backend === 'redis' ? { REDIS_URL: redis.url } : {}),
      });
      if (backend === 'redis') {
        await eventually(async () => (await (await fetch(`${stack!.url}/auth/status`)).json()).rate_limiter.redis === 'ok', 'redis ready');
      }
      const first = await chat(TPM, { model: 'demo-model', messages: [{ role: 'user', content: 'a b' }], max_tokens: 10 });
      expect(first.status).toBe(200);
      expect(first.headers.get('x-ratelimit-limit-tokens')).toBe('30');
      // What is left once this request's budget (max_tokens) is reserved.
      expect(first.headers.get('x-ratelimit-remaining-tokens')).toBe('20');
      await first.json();
      // 12 spent. A stream whose budget still fits is admitted (12 + 15 <= 30) and spends 1 + 15.
      const openai = new OpenAI({ apiKey: TPM, baseURL: `${stack!.url}/v1`, maxRetries: 0 });
      const stream = await openai.chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'a' }], max_tokens: 15, stream: true });
      let chunks = 0;
      for await (const _ of stream) chunks += 1;
      expect(chunks).toBe(15);
      // 28 spent: a request reserving 5 more does not fit; one that reserves nothing still does.
      await eventually(async () => (await chat(TPM, { model: 'demo-model', messages: [], max_tokens: 5 })).status === 429, 'token limit reached');
      expect((await fetch(`${stack!.url}/v1/models`, { headers: bearer(TPM) })).status).toBe(200);
      const denied = await chat(TPM, { model: 'demo-model', messages: [], max_tokens: 5 });
      expect(denied.status).toBe(429);
      expect((await denied.json()).error.code).toBe('token_limit_exceeded');
      const retry = Number(denied.headers.get('retry-after'));
      expect(retry).toBeGreaterThanOrEqual(1);
      expect(retry).toBeLessThanOrEqual(2);
      expect(denied.headers.get('x-ratelimit-remaining-tokens')).toBe('2');
      // Other keys are not affected; a refused request did not use up a request slot.
      expect((await chat(PLAIN, { model: 'demo-model', messages: [] })).status).toBe(200);
      await new Promise((r) => setTimeout(r, retry * 1000 + 100));
      expect((await chat(TPM, { model: 'demo-model', messages: [], max_tokens: 1 })).status).toBe(200);
    });
  }

  it('rejects malformed policy cells with a reason', async () => {
    await start([row(TPM, false, 'Bad tpm', { tpm: 'lots' }), row(LIMITED, false, 'Bad models', { models: 'a,,b' }), row(PLAIN, false, 'Good')]);
    expect(await (await fetch(`${stack!.url}/auth/status`)).json()).toMatchObject({ keys_loaded: 1, rows_rejected: 2 });
    expect((await fetch(`${stack!.url}/v1/models`, { headers: bearer(TPM) })).status).toBe(401);
    const reasons = stack!.logs.filter((l) => l.includes('key row rejected')).map((l) => JSON.parse(l).reason);
    expect(reasons).toEqual(expect.arrayContaining([expect.stringContaining('tpm_limit'), expect.stringContaining('allowed_models')]));
  });
});
