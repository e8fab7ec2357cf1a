/**
 * A development stand-in for vLLM's OpenAI-compatible server that reads requests the way vLLM
 * does (reference/vllm.md): a percent-decoding router (307 on a trailing slash, no dot-segment or
 * `//` collapsing), Python's json.loads (NaN, BOM and UTF-16 accepted, the last duplicate key
 * wins), pydantic's lax coercion (`"stream": "yes"` streams), `--api-key` on /v1, /v2, /inference
 * and /cohere only. Serves chat, completions, responses, messages, embeddings and the pooling
 * routes, /invocations, audio, /metrics and a few dev routes; counts every token it generates
 * (`tokens`), aborted streams included, so tests can hold the gateway's meter against it.
 *
 * Run alone: node --import tsx scripts/fake-vllm.ts [--port 8080] [--api-key KEY] [--chunk-delay-ms 20]
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { type AnswerContext, completion, json, type Tally } from './fake-vllm/answers.ts';
import { audio, messages, pooling, responses } from './fake-vllm/apis.ts';
import { pyJsonLoads, unquote, ValidationError } from './fake-vllm/python.ts';

export { countPromptTokens } from './fake-vllm/answers.ts';

export interface FakeVllmOptions {
  port?: number;
  host?: string;
  /** When set, /v1, /v2, /inference and /cohere need `Authorization: Bearer <apiKey>` (vLLM's --api-key). */
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
  /** The request target as sent (raw). */
  url: string;
  /** The decoded path the router matched on. */
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface FakeVllm {
  url: string;
  server: Server;
  options: FakeVllmOptions;
  requests: SeenRequest[];
  /** The exact bytes of the last few streams that ran to their end, oldest first. */
  streams: string[];
  /** Streams whose client went away before the last chunk. */
  abortedStreams: number;
  completedStreams: number;
  /** Tokens generated: totals and per answer. */
  tokens: Tally;
  /** Operator and development routes reached (/metrics, /sleep, LoRA loading, ...): none should be. */
  opsCalls: string[];
  close(): Promise<void>;
}

/** Recent requests kept for tests to inspect; a benchmark's millions are not kept. */
const MAX_RECORDED_REQUESTS = 1_000;
const GUARDED = ['/v1', '/v2', '/inference', '/cohere'];
/** Routes that are not for API clients: dev mode, LoRA loading, profiling, elastic EP. */
const OPS_ROUTES = new Set([
  '/reset_prefix_cache', '/reset_mm_cache', '/reset_encoder_cache', '/pause', '/resume', '/sleep', '/wake_up', '/collective_rpc',
  '/v1/load_lora_adapter', '/v1/unload_lora_adapter', '/start_profile', '/stop_profile', '/scale_elastic_ep',
]);

type Handler = (ctx: AnswerContext) => void | Promise<void>;
const JSON_ROUTES = new Map<string, Handler>([
  ['/v1/chat/completions', (c) => completion(c, true)],
  ['/v1/chat/completions/batch', (c) => completion(c, true)],
  ['/v1/completions', (c) => completion(c, false)],
  ['/v1/responses', responses],
  ['/v1/messages', messages],
  ['/invocations', (c) => (Array.isArray(c.body.messages) ? completion(c, true) : c.body.prompt !== undefined ? completion(c, false) : pooling(c))],
  ...['/v1/embeddings', '/pooling', '/classify', '/score', '/v1/score', '/rerank', '/v1/rerank', '/v2/rerank', '/v2/embed'].map((p) => [p, pooling] as [string, Handler]),
  ['/tokenize', (c) => json(c.res, 200, { count: 1, max_model_len: 4096, tokens: [1] })],
  ['/detokenize', (c) => json(c.res, 200, { prompt: 'x' })],
]);
const GET_ROUTES = new Set(['/health', '/v1/models', '/echo']);

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function exists(path: string): boolean {
  return JSON_ROUTES.has(path) || GET_ROUTES.has(path) || OPS_ROUTES.has(path) || path.startsWith('/v1/audio/');
}

function error(res: ServerResponse, status: number, message: string): void {
  json(res, status, { object: 'error', message, type: status === 404 ? 'NotFoundError' : 'BadRequestError', code: status });
}

export async function startFakeVllm(options: FakeVllmOptions = {}): Promise<FakeVllm> {
  const model = options.model ?? 'demo-model';
  const tally: Tally = { prompt_tokens: 0, completion_tokens: 0, answers: [] };
  const state = { requests: [] as SeenRequest[], streams: [] as string[], abortedStreams: 0, completedStreams: 0, opsCalls: [] as string[] };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = await readBody(req).catch(() => Buffer.alloc(0));
    const target = req.url ?? '/';
    const path = unquote(target.split('?')[0]!); // uvicorn's scope["path"]: Starlette routes on it
    state.requests.push({ method: req.method ?? '', url: target, path, headers: req.headers, body: raw.toString('utf8') });
    if (state.requests.length > MAX_RECORDED_REQUESTS) state.requests.shift();

    if (options.apiKey && GUARDED.some((p) => path.startsWith(p))) {
      const [scheme, ...rest] = (req.headers.authorization ?? '').split(' ');
      if (scheme?.toLowerCase() !== 'bearer' || rest.join(' ') !== options.apiKey) return json(res, 401, { error: 'Unauthorized' });
    }
    // Prometheus is mounted on ^/metrics.*, every method.
    if (path.startsWith('/metrics')) {
      state.opsCalls.push(`${req.method} ${path}`);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      return void res.end('vllm:num_requests_running{model_name="demo-model"} 0.0\n');
    }
    if (!exists(path)) {
      // Starlette's redirect_slashes: the path without its trailing slash exists.
      if (path.length > 1 && path.endsWith('/') && exists(path.slice(0, -1))) {
        res.writeHead(307, { location: `http://${req.headers.host ?? 'localhost'}${path.slice(0, -1)}` });
        return void res.end();
      }
      return error(res, 404, `Not Found: ${path}`);
    }
    if (OPS_ROUTES.has(path)) {
      state.opsCalls.push(`${req.method} ${path}`);
      return json(res, 200, { status: 'ok' });
    }
    if (GET_ROUTES.has(path)) {
      if (path === '/health') return void res.writeHead(200).end();
      if (path === '/echo') return json(res, 200, { method: req.method, url: req.url, headers: req.headers, body_bytes: raw.length });
      const ids = options.models ?? [model];
      return json(res, 200, { object: 'list', data: ids.map((id) => ({ id, object: 'model', created: 0, owned_by: 'vllm', max_model_len: 4096 })) });
    }
    if (req.method !== 'POST') return json(res, 405, { detail: 'Method Not Allowed' });
    if (path.startsWith('/v1/audio/')) {
      return audio({ req, res, route: path, body: {}, model, chunkDelayMs: 0, tally, onStreamEnd: () => undefined });
    }
    if ((req.headers['content-type'] ?? '').toLowerCase().split(';')[0] !== 'application/json') return error(res, 400, 'Unsupported Media Type: only application/json is allowed');
    let body: unknown;
    try {
      body = pyJsonLoads(raw);
    } catch (err) {
      return error(res, 400, `JSON decode error: ${(err as Error).message}`);
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) return error(res, 400, 'Input should be a valid dictionary');
    await sleep(options.headerDelayMs ?? 0);
    const ctx: AnswerContext = {
      req, res, route: path, body: body as Record<string, unknown>, model, tally,
      chunkDelayMs: options.chunkDelayMs ?? 0,
      dropAfterChunks: options.dropAfterChunks,
      onStreamEnd: (sent, aborted) => {
        if (aborted) {
          state.abortedStreams += 1;
          return;
        }
        state.completedStreams += 1;
        state.streams.push(sent);
        if (state.streams.length > 10) state.streams.shift();
      },
    };
    try {
      await JSON_ROUTES.get(path)!(ctx);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      if (!res.headersSent) error(res, 400, err.message);
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) error(res, 500, 'Internal Server Error');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    server,
    options,
    tokens: tally,
    get requests() { return state.requests; },
    get streams() { return state.streams; },
    get abortedStreams() { return state.abortedStreams; },
    get completedStreams() { return state.completedStreams; },
    get opsCalls() { return state.opsCalls; },
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
