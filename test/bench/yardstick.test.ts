import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeKeyFile } from '../../scripts/bench/keyfile.ts';
import { holdStreams } from '../../scripts/bench/streams.ts';
import { startFakeVllm, type FakeVllm } from '../../scripts/fake-vllm.ts';
import { startNodeProxy } from '../../scripts/node-proxy.ts';

let dir: string;
let vllm: FakeVllm;
let proxy: Server;
let url: string;
let key: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cg-yardstick-'));
  const keys = writeKeyFile(dir, 50);
  key = keys.sample[0]!;
  vllm = await startFakeVllm({ chunkDelayMs: 0 });
  proxy = await startNodeProxy(keys.path, vllm.url);
  url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  proxy.closeAllConnections();
  await new Promise((r) => proxy.close(r));
  await vllm.close();
  rmSync(dir, { recursive: true, force: true });
});

const chat = (headers: Record<string, string>, body: object) =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('the yardstick (scripts/node-proxy.ts)', () => {
  it('refuses a missing or unknown key with 401, as the gateway does', async () => {
    expect((await chat({}, { max_tokens: 1 })).status).toBe(401);
    expect((await chat({ authorization: 'Bearer sk-convergence-not-a-key' }, { max_tokens: 1 })).status).toBe(401);
  });

  it('forwards a JSON answer whole with its length, and never the client key', async () => {
    const res = await chat({ authorization: `Bearer ${key}` }, { model: 'demo-model', messages: [{ role: 'user', content: 'hi there' }], max_tokens: 3 });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
    expect(JSON.parse(text).usage).toEqual({ prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
    const seen = vllm.requests.at(-1)!;
    expect(seen.headers.authorization).toBeUndefined();
    expect(JSON.parse(seen.body).max_tokens).toBe(3);
  });

  it('accepts x-api-key too', async () => {
    expect((await chat({ 'x-api-key': key }, { messages: [], max_tokens: 1 })).status).toBe(200);
  });

  it('passes a stream through event by event, byte for byte', async () => {
    const res = await chat({ authorization: `Bearer ${key}` }, { model: 'demo-model', messages: [], max_tokens: 4, stream: true });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await res.text();
    expect(text).toBe(vllm.streams.at(-1));
  });

  it('carries concurrent streams for the bench client, every event counted', async () => {
    const r = await holdStreams(url, [key], { streams: 20, chunks: 5, timeoutMs: 10_000 });
    expect(r).toMatchObject({ ok: 20, failed: 0, events: 100 });
  });

  it('survives a client that leaves mid-stream', async () => {
    const slow = await startFakeVllm({ chunkDelayMs: 20 });
    const keys = writeKeyFile(dir, 5);
    const p = await startNodeProxy(keys.path, slow.url);
    const u = `http://127.0.0.1:${(p.address() as AddressInfo).port}`;
    try {
      const ac = new AbortController();
      const res = await fetch(`${u}/v1/chat/completions`, { method: 'POST', signal: ac.signal, headers: { authorization: `Bearer ${keys.sample[0]}`, 'content-type': 'application/json' }, body: JSON.stringify({ messages: [], max_tokens: 50, stream: true }) });
      const reader = res.body!.getReader();
      await reader.read();
      ac.abort();
      await expect.poll(() => slow.abortedStreams, { timeout: 5_000 }).toBe(1);
      expect((await fetch(`${u}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${keys.sample[0]}`, 'content-type': 'application/json' }, body: '{"messages":[],"max_tokens":1}' })).status).toBe(200);
    } finally {
      p.closeAllConnections();
      await new Promise((r) => p.close(r));
      await slow.close();
    }
  });
});
