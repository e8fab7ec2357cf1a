import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import type { Logger } from 'pino';
import { Pool, errors, type Dispatcher } from 'undici';
import { bodyTooLarge, checkDeclaredLength, ClientGone } from '../request/body.ts';
import { GatewayError } from '../errors.ts';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.ts';
import { upstreamName } from './urls.ts';
import { failureLabel, isConnectionFailure, Routed, UpstreamRouter, type Target, type UpstreamStatus } from './router.ts';
import type { ModelEntry } from './members.ts';

/** Observes (and may rewrite) a response body as it passes; bytes it returns go to the client. */
export interface BodyTap {
  chunk(data: Buffer): Buffer;
  end(): Buffer | null;
  /** The tap changes bytes, so the upstream content-length no longer holds. */
  readonly rewrites: boolean;
}

export interface ForwardOptions {
  /** Replaces the client's body (already read, maybe rewritten). */
  body?: Buffer;
  /** Chooses a tap once the upstream status and headers are known. */
  tap?: (status: number, headers: Record<string, string | string[] | undefined>) => BodyTap | null;
  /**
   * The `model` vLLM will read (null: the request names none). Used only with several
   * upstreams, to choose one; undefined there means "names none".
   */
  model?: string | null;
  /** Path and query to send (the canonical form); default: the request's own URL. */
  path?: string;
  /** The gateway's own headers for the client's answer; they replace an upstream header of the same name. */
  headers?: Record<string, string>;
}

export interface ForwardResult {
  status: number;
  /** complete; client_aborted: the client left and the upstream request was aborted; upstream_failed: the upstream body broke off. */
  outcome: 'complete' | 'client_aborted' | 'upstream_failed';
}

export interface UpstreamOptions {
  /** One base URL: pass-through. Several: discovery, routing by model, ejection and retry. */
  urls: string[];
  apiKey: string | undefined;
  headersTimeoutMs: number;
  maxBodyBytes: number;
  /** Seconds between model discoveries (several upstreams only). */
  discoveryIntervalMs?: number;
  /** Required with several upstreams (discovery and health changes are logged). */
  log?: Logger;
}

/** What one attempt tells the router (several upstreams only). */
interface AttemptHooks {
  /** Headers arrived with this status. */
  answered(status: number): void;
  /** The attempt is over, answered or not; called once. */
  finished(): void;
  /** It failed before any answer: a retry elsewhere, or null to answer the client with the error. */
  failed(err: unknown): Promise<ForwardResult> | null;
}

/** A retry goes to another upstream once; a second failure is the client's answer. */
const RETRIES = 1;

class BodyTooLarge extends Error {}

/** Counts a chunked body on its way through and fails it past the limit. */
function limitBody(req: IncomingMessage, limit: number): Readable {
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      done(seen > limit ? new BodyTooLarge() : null, chunk);
    },
  });
  req.on('error', (err) => counter.destroy(err));
  return req.pipe(counter);
}

/**
 * The reverse proxy to the model servers: keep-alive pools, bodies streamed both ways, the
 * upstream request aborted the moment the client leaves. With one upstream every request goes
 * straight to its pool; with several, a router chooses by model (see docs/upstreams.md).
 */
export class UpstreamProxy {
  private readonly single: Target | null = null;
  private readonly router: UpstreamRouter | null = null;
  /** Called once per upstream attempt (several upstreams only): the upstream and a status label. */
  onResult: ((upstream: string, status: string) => void) | null = null;

  constructor(private readonly opts: UpstreamOptions) {
    const poolOptions = { keepAliveTimeout: 4_000, headersTimeout: opts.headersTimeoutMs, bodyTimeout: 0 };
    if (opts.urls.length === 1) {
      const url = new URL(opts.urls[0]!);
      this.single = { pool: new Pool(url.origin, poolOptions), base: url.pathname.replace(/\/$/, '') };
    } else {
      if (!opts.log) throw new Error('several upstreams need a logger');
      this.router = new UpstreamRouter({
        urls: opts.urls, apiKey: opts.apiKey, poolOptions, discoveryIntervalMs: opts.discoveryIntervalMs ?? 30_000, log: opts.log,
      });
    }
  }

  /** Several upstreams: requests are routed by model and `GET /v1/models` is the gateway's. */
  get routesByModel(): boolean {
    return this.router !== null;
  }

  /** Starts discovery; resolves after the first round (at once with one upstream). */
  start(): Promise<void> {
    return this.router?.discovery.start() ?? Promise.resolve();
  }

  /** The healthy upstreams' models, each once (several upstreams); null when none is healthy. */
  models(): ModelEntry[] | null {
    return this.router ? this.router.models() : null;
  }

  /** For /admin/upstreams. One upstream is not discovered: its health and models are unknown. */
  status(): UpstreamStatus[] {
    if (this.router) return this.router.status();
    const stats = this.single!.pool.stats;
    return [{ url: upstreamName(this.opts.urls[0]!), healthy: null, models: null, in_flight: stats.running + stats.pending }];
  }

  /**
   * Sends the request upstream and writes the answer to `res` as it arrives. Uses undici's
   * dispatch API: the answer's chunks go straight to the client socket, with no stream objects
   * or abort signals of its own per request (see the lab notes in docs/performance.md).
   */
  forward(req: IncomingMessage, res: ServerResponse, options: ForwardOptions = {}): Promise<ForwardResult> {
    checkDeclaredLength(req, this.opts.maxBodyBytes);
    const model = options.model ?? null;
    // Chosen before the body is touched: a denial leaves an unread upload as it was.
    const choice = this.router?.choose(model) ?? null;
    if (typeof choice === 'string') throw denial(choice);
    const method = req.method ?? 'GET';
    let body: Buffer | Readable | null = null;
    if (options.body !== undefined) body = options.body;
    else if (method !== 'GET' && method !== 'HEAD') body = req.headers['content-length'] !== undefined ? req : limitBody(req, this.opts.maxBodyBytes);
    if (choice === null) return this.send(this.single!, req, res, options, body, null);
    return this.attempt(choice as Routed, model, req, res, options, body, RETRIES);
  }

  /** One try on one of several upstreams, counted in its in-flight figure, retried once elsewhere when refused. */
  private attempt(
    member: Routed, model: string | null, req: IncomingMessage, res: ServerResponse, options: ForwardOptions, body: Buffer | Readable | null, retries: number,
  ): Promise<ForwardResult> {
    const router = this.router!;
    member.inFlight += 1;
    let open = true;
    const hooks: AttemptHooks = {
      answered: (status) => this.onResult?.(member.name, String(status)),
      finished: () => {
        if (open) member.inFlight -= 1;
        open = false;
      },
      failed: (err) => {
        this.onResult?.(member.name, failureLabel(err));
        // A client that resets its own connection mid-upload fails the request with ECONNRESET
        // too: that says nothing about the upstream, and must not let a client eject one.
        if (!isConnectionFailure(err) || res.destroyed || req.socket.destroyed) return null;
        router.discovery.connectionFailed(member, (err as { code: string }).code);
        // Only a body held in memory can be sent again; a stream was consumed by the first try.
        if (retries === 0 || (body !== null && !Buffer.isBuffer(body))) return null;
        const next = router.choose(model, member);
        if (typeof next === 'string') return null;
        return this.attempt(next as Routed, model, req, res, options, body, retries - 1);
      },
    };
    return this.send(member, req, res, options, body, hooks);
  }

  private send(
    target: Target, req: IncomingMessage, res: ServerResponse, options: ForwardOptions, body: Buffer | Readable | null, hooks: AttemptHooks | null,
  ): Promise<ForwardResult> {
    const method = req.method ?? 'GET';
    return new Promise<ForwardResult>((resolve, reject) => {
      let upstream: Dispatcher.DispatchController | null = null;
      let status = 0;
      let tap: BodyTap | null = null;
      let clientGone = false;
      let settled = false;
      const settle = (outcome: ForwardResult['outcome']): void => {
        if (settled) return;
        settled = true;
        res.off('close', onClose);
        hooks?.finished();
        resolve({ status: status || 499, outcome });
      };
      const onClose = (): void => {
        if (res.writableFinished) return;
        clientGone = true;
        upstream?.abort(new ClientGone());
        settle('client_aborted');
      };
      res.on('close', onClose);
      const resume = (): void => upstream?.resume();

      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(controller) {
          upstream = controller;
          if (clientGone) controller.abort(new ClientGone());
        },
        onResponseStart(_controller, statusCode, headers) {
          status = statusCode;
          hooks?.answered(statusCode);
          tap = options.tap?.(statusCode, headers) ?? null;
          // One object to writeHead, X-Client-Name in it: with no header set before, Node takes its
          // fast path (no setHeader and validation per header).
          const out = clientResponseHeaders(headers, tap?.rewrites ?? false);
          if (options.headers) addHeaders(out, options.headers);
          res.writeHead(statusCode, out);
          // A stream's headers go out at once; other answers send them with the body (one write).
          if (String(headers['content-type'] ?? '').startsWith('text/event-stream')) res.flushHeaders();
        },
        onResponseData(controller, chunk) {
          if (clientGone) return;
          const out = tap ? tap.chunk(chunk) : chunk;
          if (out.length > 0 && !res.write(out)) {
            controller.pause();
            res.once('drain', resume);
          }
        },
        onResponseEnd() {
          if (clientGone) return;
          const tail = tap?.end();
          if (tail && tail.length > 0) res.write(tail);
          res.end(() => settle('complete'));
        },
        onResponseError(_controller, err) {
          if (clientGone || settled) return settle('client_aborted');
          if (status === 0) {
            settled = true;
            res.off('close', onClose);
            hooks?.finished();
            const retry = hooks?.failed(err) ?? null;
            if (retry) retry.then(resolve, reject);
            else reject(mapUpstreamError(err, opts.maxBodyBytes));
            return;
          }
          // Headers are gone: all that is left is to cut the client off.
          res.destroy();
          settle('upstream_failed');
        },
      };
      const opts = this.opts;
      target.pool.dispatch(
        {
          path: target.base + (options.path ?? req.url ?? '/'),
          method: method as Dispatcher.HttpMethod,
          headers: upstreamRequestHeaders(req, { upstreamApiKey: this.opts.apiKey, bodyReplaced: options.body !== undefined }),
          body,
          headersTimeout: this.opts.headersTimeoutMs,
          bodyTimeout: 0,
        },
        handler,
      );
    });
  }

  async close(): Promise<void> {
    await (this.single ? this.single.pool.close() : this.router!.close());
  }
}

/** The gateway's headers over the upstream's (whose names undici gives in lower case). */
function addHeaders(out: Record<string, unknown>, own: Record<string, string>): void {
  for (const name in own) {
    const lower = name.toLowerCase();
    if (lower !== name && out[lower] !== undefined) delete out[lower]; // rare: a delete makes the object slow
    out[name] = own[name];
  }
}

function denial(code: 'model_not_found' | 'upstream_unavailable'): GatewayError {
  return code === 'model_not_found' ? new GatewayError('model_not_found') : new GatewayError('upstream_unavailable', 'No model server for the requested model is available.');
}

function mapUpstreamError(err: unknown, limit: number): GatewayError {
  if (err instanceof BodyTooLarge) return bodyTooLarge(limit);
  if (err instanceof errors.HeadersTimeoutError) return new GatewayError('upstream_timeout');
  return new GatewayError('upstream_unavailable');
}
