/**
 * The yardstick for `npm run bench`: about the fastest honest reverse proxy Node can be with the
 * gateway's key check. SHA-256 of the presented key looked up in a Map built from the same CSV
 * (401 otherwise); the request body read whole and forwarded over one keep-alive undici Pool with
 * the dispatch API (no stream objects or abort signals per request); a JSON answer buffered and
 * sent in one write with its headers; an SSE answer passed on chunk by chunk as it arrives. It has
 * no rate limits, usage, logs, metrics, expiry or admin routes: it is a yardstick, not a gateway.
 *
 * Run: KEYS_FILE=keys.csv UPSTREAM_URL=http://127.0.0.1:8080 PORT=0 node --import tsx scripts/node-proxy.ts
 * Prints one JSON line `{"url": ...}` on stdout when listening.
 */
import { hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parse } from 'csv-parse/sync';
import { Pool, type Dispatcher } from 'undici';

/** Headers that describe one hop, or carry the client's key, and must not be forwarded. */
const HOP_HEADERS = new Set(['authorization', 'x-api-key', 'connection', 'keep-alive', 'host', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection']);
const BEARER = /^(bearer|apikey)\s+(.+)$/i;
const UNAUTHORIZED = '{"error":{"message":"Invalid API key","type":"invalid_request_error","code":"invalid_api_key"}}';

const sha256 = (text: string): string => hash('sha256', text, 'hex');

/** SHA-256 of every active key in the CSV, mapped to its client name. */
export function loadKeyHashes(path: string): Map<string, string> {
  const [header, ...rows] = parse(readFileSync(path, 'utf8'), { bom: true, relax_column_count: true }) as string[][];
  const col = (name: string): number => header!.findIndex((h) => h.trim().toLowerCase() === name);
  const [keyCol, nameCol, activeCol] = [col('api_key'), col('client_name'), col('is_active')];
  const keys = new Map<string, string>();
  for (const row of rows) {
    const key = row[keyCol]?.trim();
    if (key && /^(true|yes|1)$/i.test(row[activeCol] ?? '')) keys.set(sha256(key), row[nameCol] ?? '');
  }
  return keys;
}

function presentedKey(headers: IncomingHttpHeaders): string | null {
  const match = headers.authorization ? BEARER.exec(headers.authorization.trim()) : null;
  const key = match?.[2]?.trim() ?? (headers['x-api-key'] as string | undefined)?.trim();
  return key || null;
}

function withoutHop(src: Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in src) if (!HOP_HEADERS.has(name) && src[name] !== undefined) out[name] = src[name];
  return out;
}

export function startNodeProxy(keysFile: string, upstreamUrl: string, port = 0): Promise<Server> {
  const keys = loadKeyHashes(keysFile);
  const upstream = new URL(upstreamUrl);
  const pool = new Pool(upstream.origin, { keepAliveTimeout: 4_000, bodyTimeout: 0 });

  const server = createServer((req, res) => {
    const key = presentedKey(req.headers);
    if (key === null || !keys.has(sha256(key))) {
      res.writeHead(401, { 'content-type': 'application/json', 'content-length': UNAUTHORIZED.length });
      res.end(UNAUTHORIZED);
      return;
    }
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      let controller: Dispatcher.DispatchController | null = null;
      let gone = false;
      let streaming = false;
      let status = 502;
      let headers: OutgoingHttpHeaders = {};
      const body: Buffer[] = [];
      res.on('close', () => {
        if (res.writableFinished) return;
        gone = true;
        controller?.abort(new Error('client gone'));
      });
      const resume = (): void => controller?.resume();
      pool.dispatch(
        { path: req.url ?? '/', method: (req.method ?? 'GET') as Dispatcher.HttpMethod, headers: withoutHop(req.headers) as Record<string, string>, body: parts.length === 1 ? parts[0]! : Buffer.concat(parts) },
        {
          onRequestStart(c) {
            controller = c;
            if (gone) c.abort(new Error('client gone'));
          },
          onResponseStart(_c, statusCode, upstreamHeaders) {
            status = statusCode;
            headers = withoutHop(upstreamHeaders as Record<string, string | string[]>);
            streaming = String(upstreamHeaders['content-type'] ?? '').startsWith('text/event-stream');
            if (streaming) {
              res.writeHead(status, headers);
              res.flushHeaders();
            }
          },
          onResponseData(c, chunk) {
            if (gone) return;
            if (!streaming) return void body.push(chunk);
            if (!res.write(chunk)) {
              c.pause();
              res.once('drain', resume);
            }
          },
          onResponseEnd() {
            if (gone) return;
            if (streaming) return void res.end();
            const whole = body.length === 1 ? body[0]! : Buffer.concat(body);
            headers['content-length'] = whole.length;
            res.writeHead(status, headers);
            res.end(whole);
          },
          onResponseError() {
            if (!res.headersSent && !gone) res.writeHead(502).end();
            else res.destroy();
          },
        },
      );
    });
  });
  server.keepAliveTimeout = 5_000;
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { KEYS_FILE, UPSTREAM_URL, PORT } = process.env;
  if (!KEYS_FILE || !UPSTREAM_URL) {
    process.stderr.write('node-proxy: set KEYS_FILE and UPSTREAM_URL\n');
    process.exit(2);
  }
  const server = await startNodeProxy(KEYS_FILE, UPSTREAM_URL, Number(PORT ?? 0));
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
  // The bench profiles the yardstick as it profiles the gateway (scripts/bench/control.ts).
  if (process.env.BENCH_PROFILE_FILE) {
    const { profilerCommands, serveControl } = await import('./bench/control.ts');
    serveControl(await profilerCommands());
  }
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}
