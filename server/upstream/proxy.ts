import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { Pool, errors } from 'undici';
import { GatewayError } from '../http/errors.ts';
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

function isClientGone(res: ServerResponse): boolean {
  return res.destroyed || res.writableEnded;
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

  /** Rejects a declared body over the limit before anything is sent upstream. */
  checkDeclaredLength(req: IncomingMessage): void {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.opts.maxBodyBytes) throw new GatewayError('request_too_large', `Request body is larger than ${this.opts.maxBodyBytes} bytes.`);
  }

  async forward(req: IncomingMessage, res: ServerResponse, options: ForwardOptions = {}): Promise<ForwardResult> {
    this.checkDeclaredLength(req);
    const controller = new AbortController();
    let finished = false;
    const onClose = (): void => {
      if (!finished) controller.abort();
    };
    res.once('close', onClose);

    const method = req.method ?? 'GET';
    const hasBody = options.body !== undefined || (method !== 'GET' && method !== 'HEAD');
    let body: Buffer | Readable | null = null;
    if (options.body !== undefined) body = options.body;
    else if (hasBody) body = req.headers['content-length'] !== undefined ? req : limitBody(req, this.opts.maxBodyBytes);

    let answer: Awaited<ReturnType<Pool['request']>>;
    try {
      answer = await this.pool.request({
        origin: undefined,
        path: this.base + (req.url ?? '/'),
        method: method as 'GET',
        headers: upstreamRequestHeaders(req, { upstreamApiKey: this.opts.apiKey, bodyReplaced: options.body !== undefined }),
        body,
        signal: controller.signal,
        headersTimeout: this.opts.headersTimeoutMs,
        bodyTimeout: 0,
      });
    } catch (err) {
      res.off('close', onClose);
      if (controller.signal.aborted || isClientGone(res)) return { status: 499, outcome: 'client_aborted' };
      throw mapUpstreamError(err, this.opts.maxBodyBytes);
    }

    const upstream = answer.body;
    const tap = options.tap?.(answer.statusCode, answer.headers) ?? null;
    res.writeHead(answer.statusCode, clientResponseHeaders(answer.headers, tap?.rewrites ?? false));
    res.flushHeaders();

    return new Promise<ForwardResult>((resolve) => {
      const done = (outcome: ForwardResult['outcome']): void => {
        if (finished) return;
        finished = true;
        res.off('close', onClose);
        resolve({ status: answer.statusCode, outcome });
      };
      upstream.on('data', (chunk: Buffer) => {
        const out = tap ? tap.chunk(chunk) : chunk;
        if (out.length > 0 && !res.write(out)) upstream.pause();
      });
      res.on('drain', () => upstream.resume());
      upstream.on('end', () => {
        const tail = tap?.end();
        if (tail && tail.length > 0) res.write(tail);
        res.end(() => done('complete'));
      });
      // Without this listener an aborted upstream body (client gone) would crash the process.
      upstream.on('error', () => {
        const clientLeft = controller.signal.aborted || isClientGone(res);
        if (!clientLeft) res.destroy();
        done(clientLeft ? 'client_aborted' : 'upstream_failed');
      });
      res.on('close', () => {
        if (!res.writableFinished) {
          controller.abort();
          upstream.destroy();
          done('client_aborted');
        }
      });
    });
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

function mapUpstreamError(err: unknown, limit: number): GatewayError {
  if (err instanceof BodyTooLarge) return new GatewayError('request_too_large', `Request body is larger than ${limit} bytes.`);
  if (err instanceof errors.HeadersTimeoutError) return new GatewayError('upstream_timeout');
  return new GatewayError('upstream_unavailable');
}
