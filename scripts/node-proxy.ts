/**
 * The Node ceiling for `npm run bench`: about the least a node:http reverse proxy can do with the
 * gateway's key check (SHA-256 of the presented key looked up in a Map built from the same CSV,
 * 401 otherwise), forwarding over a keep-alive Agent and piping the answer back. It has no rate
 * limits, usage, expiry or admin routes: it is a yardstick, not a gateway.
 *
 * Run: KEYS_FILE=keys.csv UPSTREAM_URL=http://127.0.0.1:8080 PORT=0 node --import tsx scripts/node-proxy.ts
 * Prints one JSON line `{"url": ...}` on stdout when listening.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parse } from 'csv-parse/sync';

/** Headers that describe one hop, or carry the client's key, and must not be forwarded. */
const HOP_HEADERS = ['authorization', 'x-api-key', 'connection', 'keep-alive', 'host', 'transfer-encoding'];
const BEARER = /^(bearer|apikey)\s+(.+)$/i;

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

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

export function startNodeProxy(keysFile: string, upstreamUrl: string, port = 0): Promise<Server> {
  const keys = loadKeyHashes(keysFile);
  const upstream = new URL(upstreamUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });

  const server = createServer((req, res) => {
    const key = presentedKey(req.headers);
    if (key === null || !keys.has(sha256(key))) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"Invalid API key","type":"invalid_request_error","code":"invalid_api_key"}}');
      return;
    }
    const headers = { ...req.headers };
    for (const name of HOP_HEADERS) delete headers[name];
    const up = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
      (answer) => {
        const out = { ...answer.headers };
        for (const name of HOP_HEADERS) delete out[name];
        res.writeHead(answer.statusCode ?? 502, out);
        answer.on('error', () => res.destroy());
        answer.pipe(res);
      },
    );
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  });
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
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}
