import { request } from 'node:http';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeVllm, type FakeVllm, type FakeVllmOptions } from '../../scripts/fake-vllm.ts';
import { bearer, eventually, HEADER, SHEET_ID, startStack, type Stack } from '../support/stack.ts';

const KEY = 'sk-convergence-16161616-0000-4000-8000-000000000001';
const LIMITED = 'sk-convergence-16161616-0000-4000-8000-000000000002';
const ADMIN = 'admin-key-for-upstream-tests';

let stack: Stack | null = null;
let fakes: FakeVllm[] = [];
afterEach(async () => {
  await stack?.close();
  await Promise.all(fakes.map((f) => f.close()));
  stack = null;
  fakes = [];
});

interface Three {
  a: FakeVllm;
  b: FakeVllm;
  c: FakeVllm;
}

/** A and B serve m1, C serves m2; the gateway in front of all three. */
async function startThree(env: Record<string, string> = {}, ab: FakeVllmOptions = {}, urlOf = (f: FakeVllm) => f.url): Promise<Three> {
  const a = await startFakeVllm({ models: ['m1'], ...ab });
  const b = await startFakeVllm({ models: ['m1'], ...ab });
  const c = await startFakeVllm({ models: ['m2'] });
  fakes = [a, b, c];
  stack = await startStack({
    rows: [],
    env: { UPSTREAM_URL: [a, b, c].map(urlOf).join(','), ADMIN_API_KEY: ADMIN, ...env },
  });
  stack.sheets.setTab(SHEET_ID, 'API_Keys', [
    [...HEADER, 'allowed_models'],
    [KEY, 'Acme', '', '', true, 1_000_000, ''],
    [LIMITED, 'Narrow', '', '', true, '', 'm2,m9'],
  ]);
  await stack.gateway.auth.store!.reload();
  return { a, b, c };
}

const client = (key = KEY): OpenAI => new OpenAI({ apiKey: key, baseURL: `${stack!.url}/v1`, maxRetries: 0 });
const chat = (model: string, key = KEY) => client(key).chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
const completions = (f: FakeVllm): number => f.requests.filter((r) => r.method === 'POST').length;

/** `workers` clients each sending the next request as soon as one is answered, until `stop()`. */
async function steady(model: string, workers: number, stop: () => boolean): Promise<{ ok: number; failed: unknown[] }> {
  let ok = 0;
  const failed: unknown[] = [];
  await Promise.all(Array.from({ length: workers }, async () => {
    while (!stop()) {
      try {
        const answer = await chat(model);
        if (answer.choices[0]?.message.content === 'The quick') ok += 1;
        else failed.push(answer);
      } catch (err) {
        failed.push(err);
      }
    }
  }));
  return { ok, failed };
}

async function upstreams(): Promise<Array<{ url: string; healthy: boolean; models: string[] | null; in_flight: number }>> {
  const res = await fetch(`${stack!.url}/admin/upstreams`, { headers: bearer(ADMIN) });
  expect(res.status).toBe(200);
  return (await res.json()).upstreams;
}

describe('several upstreams', () => {
  it('balances m1 over A and B within 60/40 under steady load, and sends m2 only to C', async () => {
    const { a, b, c } = await startThree({}, { headerDelayMs: 3 });
    let sent = 0;
    const result = await steady('m1', 6, () => ++sent > 300);
    expect(result.failed).toEqual([]);
    const share = completions(a) / (completions(a) + completions(b));
    expect(completions(a) + completions(b)).toBe(result.ok);
    expect(share).toBeGreaterThanOrEqual(0.4);
    expect(share).toBeLessThanOrEqual(0.6);
    expect(completions(c)).toBe(0);

    for (let i = 0; i < 5; i += 1) expect((await chat('m2')).model).toBe('m2');
    expect(completions(c)).toBe(5);
    expect(completions(a) + completions(b)).toBe(result.ok);
  });

  it('answers a model no upstream serves with 404 model_not_found', async () => {
    const { a, b, c } = await startThree();
    const err = await chat('m404').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
    expect([a, b, c].map(completions)).toEqual([0, 0, 0]);
  });

  it('loses no request when A dies under steady m1 traffic, and takes A back after its backoff', async () => {
    // Answers take 20 ms: at any moment several requests wait on A without an answer begun.
    const { a, b } = await startThree({}, { headerDelayMs: 20 });
    const port = new URL(a.url).port;
    let killedAt = 0;
    const started = Date.now();
    const load = steady('m1', 8, () => Date.now() - started > 1_500);
    await eventually(() => a.requests.length > 20, 'A takes traffic');
    await a.close();
    killedAt = Date.now();
    const result = await load;
    expect(result.failed).toEqual([]);
    expect(result.ok).toBeGreaterThan(100);
    const servedByB = completions(b);
    expect(servedByB).toBeGreaterThan(0);
    expect((await upstreams()).find((u) => u.url === a.url)).toMatchObject({ healthy: false });
    expect(stack!.logs.some((l) => l.includes('upstream down'))).toBe(true);

    // A comes back on the same port; the first probe after the 1 s backoff (2 s, 4 s if it
    // failed again) finds it.
    const back = await startFakeVllm({ port: Number(port), models: ['m1'] });
    fakes.push(back);
    await eventually(async () => (await upstreams()).find((u) => u.url === a.url)!.healthy, 'A back in rotation', 8_000);
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(1_000);
    for (let i = 0; i < 6; i += 1) await chat('m1');
    expect(completions(back)).toBeGreaterThanOrEqual(2);

    const metrics = await (await fetch(`${stack!.url}/metrics`, { headers: bearer(ADMIN) })).text();
    expect(metrics).toContain(`cg_upstream_up{upstream="${a.url}"} 1`);
    expect(metrics).toMatch(new RegExp(`cg_upstream_requests_total\\{upstream="${a.url}",status="error"\\} [1-9]`));
    expect(metrics).toMatch(new RegExp(`cg_upstream_requests_total\\{upstream="${b.url}",status="200"\\} [1-9]`));
  });

  it('never retries a stream that has begun', async () => {
    const { a, b } = await startThree({}, { chunkDelayMs: 50 });
    const stream = await client().chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi' }], max_tokens: 20, stream: true });
    const serving = completions(a) === 1 ? a : b;
    const other = serving === a ? b : a;
    const read = (async () => { for await (const _ of stream) { /* drain */ } })();
    await eventually(() => serving.requests.length > 0, 'stream started');
    await new Promise((r) => setTimeout(r, 120));
    await serving.close();
    await expect(read).rejects.toThrow();
    expect(completions(other)).toBe(0);
  });

  it('lists the union of the healthy upstreams models, narrowed by allowed_models, and learns new models', async () => {
    const { c } = await startThree({ UPSTREAM_DISCOVERY_INTERVAL: '0.3' });
    expect((await client().models.list()).data.map((m) => m.id).sort()).toEqual(['m1', 'm2']);
    expect((await client(LIMITED).models.list()).data.map((m) => m.id)).toEqual(['m2']);
    expect(completions(c)).toBe(0);

    c.options.models = ['m2', 'm9'];
    const changed = Date.now();
    await eventually(async () => (await client(LIMITED).models.list()).data.some((m) => m.id === 'm9'), 'm9 discovered', 2_000);
    // Within one interval (0.3 s), plus the time the check itself takes on a busy machine.
    expect(Date.now() - changed).toBeLessThan(1_000);
    expect((await client().models.list()).data.map((m) => m.id).sort()).toEqual(['m1', 'm2', 'm9']);
    expect((await chat('m9', LIMITED)).model).toBe('m9');
    expect(c.requests.at(-1)!.url).toBe('/v1/chat/completions');
  });

  it('shows upstream health to the admin only, never a URL credential', async () => {
    const withCredentials = (f: FakeVllm) => f.url.replace('http://', 'http://vllm-user:url-secret@');
    const { a, b, c } = await startThree({}, {}, withCredentials);
    const list = await upstreams();
    expect(list).toEqual([
      { url: a.url, healthy: true, models: ['m1'], in_flight: 0 },
      { url: b.url, healthy: true, models: ['m1'], in_flight: 0 },
      { url: c.url, healthy: true, models: ['m2'], in_flight: 0 },
    ]);
    expect((await fetch(`${stack!.url}/admin/upstreams`, { headers: bearer(KEY) })).status).toBe(403);
    const status = await (await fetch(`${stack!.url}/auth/status`)).text();
    expect(status).not.toContain(a.url.slice(7));
    expect(status).not.toContain('upstream');
    expect(stack!.logs.join('\n')).not.toContain('url-secret');
    expect(stack!.logs.some((l) => l.includes('"gateway listening"') && l.includes(a.url))).toBe(true);
    // The credentials in the URL are not sent upstream either (UPSTREAM_API_KEY is the way).
    await chat('m2');
    expect(c.requests.at(-1)!.headers.authorization).toBeUndefined();
  });

  it('does not take an upstream out when a client resets its own upload', async () => {
    await startThree();
    for (let i = 0; i < 6; i += 1) {
      await new Promise<void>((resolve) => {
        const req = request(`${stack!.url}/v1/audio/transcriptions`, { method: 'POST', headers: { ...bearer(KEY), 'content-type': 'application/octet-stream', 'content-length': '100000' } });
        req.on('error', () => resolve());
        req.write('x'.repeat(1_000));
        setTimeout(() => req.socket?.resetAndDestroy(), 50);
      });
    }
    await new Promise((r) => setTimeout(r, 100));
    expect((await upstreams()).map((u) => u.healthy)).toEqual([true, true, true]);
    expect(stack!.logs.some((l) => l.includes('upstream down'))).toBe(false);
  });
});
