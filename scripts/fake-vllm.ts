/**
 * A development stand-in for vLLM's OpenAI-compatible server: /v1/models, /v1/chat/completions
 * and /v1/completions, JSON or server-sent events, with `usage` and `stream_options.include_usage`
 * as vLLM sends them. The demo, the tests and the benchmarks talk to it.
 *
 * Run alone: node --import tsx scripts/fake-vllm.ts [--port 8080] [--api-key KEY] [--chunk-delay-ms 20]
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

export interface FakeVllmOptions {
  port?: number;
  host?: string;
  /** When set, requests must carry `Authorization: Bearer <apiKey>` (vLLM's --api-key). */
  apiKey?: string;
  model?: string;
  /** Models listed by GET /v1/models (default: just `model`). */
  models?: string[];
  /** Pause between streamed chunks. */
  chunkDelayMs?: number;
  /** Pause before response headers (to provoke gateway timeouts). */
  headerDelayMs?: number;
  /** Cut the connection after this many streamed chunks (an upstream crash mid-stream). */
  dropAfterChunks?: number;
}

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface FakeVllm {
  url: string;
  server: Server;
  options: FakeVllmOptions;
  requests: SeenRequest[];
  /** The exact bytes of the last few complete streams, oldest first. */
  streams: string[];
  /** Streams whose client went away before the last chunk. */
  abortedStreams: number;
  completedStreams: number;
  /** Completion tokens sent: one per streamed content chunk, `max_tokens` per JSON answer (the bench's "generated"). */
  tokensSent: number;
  close(): Promise<void>;
}

const WORDS = ['The', ' quick', ' brown', ' fox', ' jumps', ' over', ' the', ' lazy', ' dog', '.'];
const DEFAULT_COMPLETION_TOKENS = 8;
/** Recent requests kept for tests to inspect; a benchmark's millions are not kept. */
const MAX_RECORDED_REQUESTS = 1_000;

/** Deterministic token counts: one per whitespace-separated word of the prompt. */
export function countPromptTokens(body: { messages?: Array<{ content?: unknown }>; prompt?: unknown }): number {
  const text = body.messages
    ? body.messages.map((m) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content ?? ''))).join(' ')
    : String(body.prompt ?? '');
  return text.split(/\s+/).filter(Boolean).length;
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startFakeVllm(options: FakeVllmOptions = {}): Promise<FakeVllm> {
  const model = options.model ?? 'demo-model';
  const state = { requests: [] as SeenRequest[], streams: [] as string[], abortedStreams: 0, completedStreams: 0, tokensSent: 0 };

  async function completion(req: IncomingMessage, res: ServerResponse, raw: string, chat: boolean): Promise<void> {
    let body: {
      model?: string; stream?: boolean; max_tokens?: number; messages?: Array<{ content?: unknown }>; prompt?: unknown;
      stream_options?: { include_usage?: boolean };
    };
    try {
      body = JSON.parse(raw);
    } catch {
      return json(res, 400, { object: 'error', message: 'invalid JSON body', type: 'BadRequestError', code: 400 });
    }
    const n = Math.max(1, Math.min(1000, Number(body.max_tokens ?? DEFAULT_COMPLETION_TOKENS) | 0));
    const usage = { prompt_tokens: countPromptTokens(body), completion_tokens: n, total_tokens: countPromptTokens(body) + n };
    const id = `${chat ? 'chatcmpl' : 'cmpl'}-${Math.random().toString(36).slice(2, 12)}`;
    const created = Math.floor(Date.now() / 1000);
    const object = chat ? 'chat.completion' : 'text_completion';
    const pieces = Array.from({ length: n }, (_, i) => WORDS[i % WORDS.length]!);
    await sleep(options.headerDelayMs ?? 0);

    if (!body.stream) {
      const choice = chat
        ? { index: 0, message: { role: 'assistant', content: pieces.join('') }, finish_reason: 'length' }
        : { index: 0, text: pieces.join(''), finish_reason: 'length' };
      state.tokensSent += n;
      return json(res, 200, { id, object, created, model: body.model ?? model, choices: [choice], usage });
    }

    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.flushHeaders();
    let gone = false;
    res.on('close', () => {
      if (!res.writableFinished) gone = true;
    });
    const chunkObject = chat ? 'chat.completion.chunk' : 'text_completion';
    let sent = '';
    const send = (payload: unknown): void => {
      const event = `data: ${JSON.stringify(payload)}\n\n`;
      sent += event;
      res.write(event);
    };
    for (let i = 0; i < n; i += 1) {
      if (gone) break;
      if (options.dropAfterChunks !== undefined && i >= options.dropAfterChunks) {
        res.socket?.destroy();
        return;
      }
      const choice = chat
        ? { index: 0, delta: i === 0 ? { role: 'assistant', content: pieces[i] } : { content: pieces[i] }, finish_reason: i === n - 1 ? 'length' : null }
        : { index: 0, text: pieces[i], finish_reason: i === n - 1 ? 'length' : null };
      send({ id, object: chunkObject, created, model: body.model ?? model, choices: [choice] });
      state.tokensSent += 1;
      await sleep(options.chunkDelayMs ?? 0);
    }
    if (gone) {
      state.abortedStreams += 1;
      return;
    }
    if (body.stream_options?.include_usage) send({ id, object: chunkObject, created, model: body.model ?? model, choices: [], usage });
    res.end('data: [DONE]\n\n');
    state.streams.push(`${sent}data: [DONE]\n\n`);
    if (state.streams.length > 10) state.streams.shift();
    state.completedStreams += 1;
  }

  const server = createServer(async (req, res) => {
    const raw = await readBody(req).catch(() => '');
    state.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: raw });
    if (state.requests.length > MAX_RECORDED_REQUESTS) state.requests.shift();
    if (options.apiKey && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      return json(res, 401, { error: 'Unauthorized' });
    }
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/health') return void res.writeHead(200).end();
    if (req.method === 'GET' && path === '/v1/models') {
      const ids = options.models ?? [model];
      return json(res, 200, { object: 'list', data: ids.map((id) => ({ id, object: 'model', created: 0, owned_by: 'vllm', max_model_len: 4096 })) });
    }
    if (req.method === 'POST' && path === '/v1/chat/completions') return completion(req, res, raw, true);
    if (req.method === 'POST' && path === '/v1/completions') return completion(req, res, raw, false);
    if (path === '/echo') return json(res, 200, { method: req.method, url: req.url, headers: req.headers, body_bytes: Buffer.byteLength(raw) });
    return json(res, 404, { object: 'error', message: `Not Found: ${path}`, type: 'NotFoundError', code: 404 });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    server,
    options,
    get requests() { return state.requests; },
    get streams() { return state.streams; },
    get abortedStreams() { return state.abortedStreams; },
    get completedStreams() { return state.completedStreams; },
    get tokensSent() { return state.tokensSent; },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  } as FakeVllm;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      'api-key': { type: 'string' },
      'chunk-delay-ms': { type: 'string', default: '20' },
    },
  });
  const vllm = await startFakeVllm({
    port: Number(values.port),
    host: values.host,
    apiKey: values['api-key'],
    chunkDelayMs: Number(values['chunk-delay-ms']),
  });
  process.stdout.write(`stand-in vLLM listening on ${vllm.url}\n`);
  const stop = (): void => void vllm.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
