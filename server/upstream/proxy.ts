import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { Pool, errors, type Dispatcher } from 'undici';
import { bodyTooLarge, checkDeclaredLength, ClientGone } from '../request/body.ts';
import { GatewayError } from '../errors.ts';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.ts';

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
  /** The path and query to send (canonical); default `req.url`. */
  path?: string;
  /** Chooses a tap once the upstream status and headers are known. */
  tap?: (status: number, headers: Record<string, string | string[] | undefined>) => BodyTap | null;
}

export interface ForwardResult {
  status: number;
  /** complete; client_aborted: the client left and the upstream request was aborted; upstream_failed: the upstream body broke off. */
  outcome: 'complete' | 'client_aborted' | 'upstream_failed';
}

export interface UpstreamOptions {
  url: string;
  apiKey: string | undefined;
  headersTimeoutMs: number;
  maxBodyBytes: number;
}

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
 * The reverse proxy to the model server: one keep-alive pool, bodies streamed both ways, the
 * upstream request aborted the moment the client leaves.
 */
export class UpstreamProxy {
  private readonly pool: Pool;
  private readonly base: string;

  constructor(private readonly opts: UpstreamOptions) {
    const url = new URL(opts.url);
    this.base = url.pathname.replace(/\/$/, '');
    this.pool = new Pool(url.origin, { keepAliveTimeout: 4_000, headersTimeout: opts.headersTimeoutMs, bodyTimeout: 0 });
  }

  /**
   * Sends the request upstream and writes the answer to `res` as it arrives. Uses undici's
   * dispatch API: the answer's chunks go straight to the client socket, with no stream objects
   * or abort signals of its own per request (see the lab notes in docs/performance.md).
   */
  forward(req: IncomingMessage, res: ServerResponse, options: ForwardOptions = {}): Promise<ForwardResult> {
    checkDeclaredLength(req, this.opts.maxBodyBytes);
    const method = req.method ?? 'GET';
    let body: Buffer | Readable | null = null;
    if (options.body !== undefined) body = options.body;
    else if (method !== 'GET' && method !== 'HEAD') body = req.headers['content-length'] !== undefined ? req : limitBody(req, this.opts.maxBodyBytes);

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
          tap = options.tap?.(statusCode, headers) ?? null;
          res.writeHead(statusCode, clientResponseHeaders(headers, tap?.rewrites ?? false));
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
            reject(mapUpstreamError(err, opts.maxBodyBytes));
            return;
          }
          // Headers are gone: all that is left is to cut the client off.
          res.destroy();
          settle('upstream_failed');
        },
      };
      const opts = this.opts;
      this.pool.dispatch(
        {
          path: this.base + (options.path ?? req.url ?? '/'),
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
    await this.pool.close();
  }
}

function mapUpstreamError(err: unknown, limit: number): GatewayError {
  if (err instanceof BodyTooLarge) return bodyTooLarge(limit);
  if (err instanceof errors.HeadersTimeoutError) return new GatewayError('upstream_timeout');
  return new GatewayError('upstream_unavailable');
}
