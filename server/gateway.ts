import { createServer, type Server } from 'node:http';
import { GatewayMetrics } from './metrics/metrics.ts';
import { InFlight } from './http/inflight.ts';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { buildApp } from './app.ts';
import type { Config } from './config.ts';
import type { AuthState } from './http/state.ts';
import { FileKeySource } from './keys/file-source.ts';
import { SheetsKeySource } from './keys/sheets-source.ts';
import { KeyStore } from './keys/store.ts';
import { KeySnapshot } from './keys/snapshot.ts';
import type { KeySource } from './keys/types.ts';
import { hasQuota } from './quota/quotas.ts';
import { setUpQuotas } from './quota/setup.ts';
import { MemoryRateLimiter } from './ratelimit/memory.ts';
import { MemoryTokenLimiter } from './ratelimit/tokens-memory.ts';
import type { RedisHealth } from './ratelimit/health.ts';
import type { LimiterStatus, RateLimiter, TokenLimiter } from './ratelimit/types.ts';
import { StateDir } from './state/files.ts';
import { UpstreamProxy } from './upstream/proxy.ts';
import { upstreamName } from './upstream/urls.ts';
import { usageFileFor } from './usage/columns.ts';
import { UsageFlusher } from './usage/flusher.ts';
import { UsageLedger } from './usage/ledger.ts';
import { FileUsageHistory, SheetsUsageHistory, type UsageHistory } from './usage/history.ts';
import { FileUsageSink, SheetsUsageSink, type UsageSink } from './usage/sinks.ts';
import type { Redis } from 'ioredis';

/** The gateway cannot start: AUTH_FALLBACK=closed with no usable key source or credentials. */
export class StartupError extends Error {}

export interface Gateway {
  server: Server;
  url: string;
  auth: AuthState;
  usage: UsageFlusher | null;
  metricsServer: Server | null;
  /** Settles when the first key load has been tried (it may have failed and be retrying). */
  ready: Promise<void>;
  close(): Promise<void>;
}

type SourceChoice = { ok: true; source: KeySource; usage: UsageSink; history: UsageHistory } | { ok: false; reason: string };

/** What tests may inject into a gateway: its clock. */
export interface GatewayOptions {
  now?: () => number;
}

async function chooseKeySource(config: Config, log: Logger): Promise<SourceChoice> {
  if (config.GOOGLE_SHEET_ID) {
    // Loaded only when used: the Google client libraries are a tenth of a cold start.
    const [{ resolveGoogleCredentials }, { createSheetsApi }] = await Promise.all([import('./google/auth.ts'), import('./google/sheets.ts')]);
    const creds = await resolveGoogleCredentials(config.GOOGLE_CREDENTIALS_PATH);
    if (!creds.ok) return { ok: false, reason: `Google credentials missing: ${creds.reason}` };
    log.info({ account: creds.account, sheets_api: config.SHEETS_API_URL }, 'using Google Sheets key source');
    const api = createSheetsApi(creds.auth, config.SHEETS_API_URL);
    return {
      ok: true,
      source: new SheetsKeySource(api, config.GOOGLE_SHEET_ID, config.GOOGLE_SHEET_NAME, log),
      usage: new SheetsUsageSink(api, config.GOOGLE_SHEET_ID, config.USAGE_SHEET_NAME, log),
      history: new SheetsUsageHistory(api, config.GOOGLE_SHEET_ID, config.USAGE_SHEET_NAME, log),
    };
  }
  if (config.KEYS_FILE) {
    return {
      ok: true,
      source: new FileKeySource(config.KEYS_FILE, config.KEYS_TIMEZONE, log),
      usage: new FileUsageSink(usageFileFor(config.KEYS_FILE)),
      history: new FileUsageHistory(usageFileFor(config.KEYS_FILE), config.KEYS_TIMEZONE),
    };
  }
  return { ok: false, reason: 'no key source configured (set GOOGLE_SHEET_ID or KEYS_FILE)' };
}

/** Decides the auth mode. Only a missing source or missing credentials may open the gateway. */
async function resolveAuth(
  config: Config,
  log: Logger,
  stateDir: StateDir | null,
  now: () => number,
): Promise<{ auth: AuthState; usage: UsageSink | null; history: UsageHistory | null }> {
  if (!config.AUTH_ENABLED) {
    log.warn('AUTH_ENABLED=false: every request is proxied without a key check');
    return { auth: { mode: 'disabled', reason: 'AUTH_ENABLED=false', store: null }, usage: null, history: null };
  }
  const choice = await chooseKeySource(config, log);
  if (!choice.ok) {
    if (config.AUTH_FALLBACK === 'closed') throw new StartupError(`refusing to start (AUTH_FALLBACK=closed): ${choice.reason}`);
    log.warn(
      { reason: choice.reason },
      '!!! AUTHENTICATION IS OFF: the gateway serves every request without a key (AUTH_FALLBACK=open). Configure a key source or set AUTH_FALLBACK=closed. !!!',
    );
    return { auth: { mode: 'open', reason: choice.reason, store: null }, usage: null, history: null };
  }
  const store = new KeyStore({
    source: choice.source,
    ttlSeconds: config.API_KEY_CACHE_DURATION,
    defaultRateLimit: config.RATE_LIMIT_DEFAULT,
    log,
    now,
    snapshot: stateDir ? new KeySnapshot(stateDir) : null,
    snapshotMaxAgeMs: config.SNAPSHOT_MAX_AGE * 1000,
  });
  return {
    auth: { mode: choice.source.kind === 'file' ? 'file' : 'google_sheets', reason: null, store },
    usage: choice.usage,
    history: choice.history,
  };
}

interface Limiters {
  requests: RateLimiter;
  tokens: TokenLimiter;
  status: () => LimiterStatus;
  /** The Redis connection and its health, for the quota counts; null without REDIS_URL. */
  redis: { client: Redis; health: RedisHealth } | null;
  close: () => Promise<void>;
}

/** In memory, or in Redis with this replica's memory as the fallback while Redis is away. */
async function createLimiters(config: Config, log: Logger): Promise<Limiters> {
  const requests = new MemoryRateLimiter();
  const tokens = new MemoryTokenLimiter();
  if (!config.REDIS_URL) {
    return { requests, tokens, status: () => ({ backend: 'memory' }), redis: null, close: async () => undefined };
  }
  // Loaded only with REDIS_URL, like the Google libraries: single replicas start faster.
  const [{ RedisHealth }, { connectRedis, FallbackRateLimiter, FallbackTokenLimiter, RedisRateLimiter, RedisTokenLimiter }] = await Promise.all([
    import('./ratelimit/health.ts'),
    import('./ratelimit/redis.ts'),
  ]);
  const redis = connectRedis(config.REDIS_URL);
  const health = new RedisHealth(redis, log);
  return {
    requests: new FallbackRateLimiter(health, new RedisRateLimiter(redis), requests),
    tokens: new FallbackTokenLimiter(health, new RedisTokenLimiter(redis), tokens),
    status: () => health.status(),
    redis: { client: redis, health },
    close: async () => health.close(),
  };
}

/**
 * The usage writer: durable in STATE_DIR when set; with REDIS_URL, replicas add their counts in
 * Redis and one holder of a leased lock writes for all (docs/usage.md).
 */
async function createUsageFlusher(config: Config, log: Logger, ledger: UsageLedger, sink: UsageSink, state: StateDir | null): Promise<UsageFlusher> {
  const intervalMs = config.USAGE_FLUSH_INTERVAL * 1000;
  let shared = null;
  if (config.REDIS_URL) {
    const { connectUsageRedis, RedisSharedUsage, usageLeaseMs } = await import('./usage/shared.ts');
    shared = new RedisSharedUsage(connectUsageRedis(config.REDIS_URL), { leaseMs: usageLeaseMs(intervalMs) });
  }
  const flusher = new UsageFlusher(ledger, sink, { intervalMs, instance: config.INSTANCE_ID, log, state, shared });
  await flusher.init();
  return flusher;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export async function startGateway(config: Config, log: Logger, opts: GatewayOptions = {}): Promise<Gateway> {
  const now = opts.now ?? Date.now;
  const stateDir = config.STATE_DIR ? new StateDir(config.STATE_DIR, log) : null;
  const { auth, usage: sink, history } = await resolveAuth(config, log, stateDir, now);
  const upstream = new UpstreamProxy({
    urls: config.UPSTREAM_URLS,
    apiKey: config.UPSTREAM_API_KEY,
    headersTimeoutMs: config.UPSTREAM_TIMEOUT * 1000,
    maxBodyBytes: config.MAX_REQUEST_BODY_BYTES,
    discoveryIntervalMs: config.UPSTREAM_DISCOVERY_INTERVAL * 1000,
    log,
  });
  const limiters = await createLimiters(config, log);
  const quotaSetup = auth.store
    ? await setUpQuotas({ history, stateDir, redis: limiters.redis, reserveDefault: config.TOKEN_RESERVE_DEFAULT, log, now })
    : null;
  const ledger = sink ? new UsageLedger({ periodMs: config.USAGE_ROW_PERIOD * 1000 }) : null;
  const flusher = sink && ledger ? await createUsageFlusher(config, log, ledger, sink, stateDir) : null;

  const metrics = new GatewayMetrics({
    keys: auth.store
      ? () => {
          const s = auth.store!.status();
          const age = s.lastRefreshAt ? (Date.now() - Date.parse(s.lastRefreshAt)) / 1000 : null;
          return { loaded: s.keysLoaded, rejected: s.rowsRejected, ageSeconds: age };
        }
      : undefined,
    usagePendingKeys: flusher ? () => flusher.pendingKeys : undefined,
    redisUp: config.REDIS_URL ? () => (limiters.status().redis === 'ok' ? 1 : 0) : undefined,
    upstreams: upstream.routesByModel ? () => upstream.status() : undefined,
  });
  if (upstream.routesByModel) upstream.onResult = (name, status) => metrics.upstreamResult(name, status);
  auth.store?.onLoadResult((ok) => metrics.keyReloads.inc({ result: ok ? 'success' : 'failure' }));
  if (flusher) flusher.onResult = (ok) => metrics.usageFlushes.inc({ result: ok ? 'success' : 'failure' });

  const inflight = new InFlight();
  const app = buildApp({
    inflight,
    auth,
    upstream,
    log,
    cacheTtlSeconds: config.API_KEY_CACHE_DURATION,
    adminApiKey: config.ADMIN_API_KEY,
    limiter: limiters.requests,
    tokenLimiter: limiters.tokens,
    rateLimitWindowMs: config.RATE_LIMIT_WINDOW * 1000,
    usage: ledger,
    maxBodyBytes: config.MAX_REQUEST_BODY_BYTES,
    proxyPaths: config.PROXY_PATHS,
    tokenReserveDefault: config.TOKEN_RESERVE_DEFAULT,
    bodyBudget: config.MAX_BUFFERED_BYTES,
    metrics,
    metricsOnPublicPort: config.METRICS_PORT === undefined,
    quotas: quotaSetup?.quotas ?? null,
    now,
    statusExtras: () => ({
      rate_limiter: limiters.status(),
      usage: flusher ? flusher.status() : null,
    }),
  });
  // Ready once keys were tried and, with several upstreams, every upstream was asked for its models.
  const keysReady = auth.store ? auth.store.start() : Promise.resolve();
  const ready = Promise.all([keysReady, upstream.start()]).then(() => undefined);
  // Read the Usage record early, so the first request of a client with a quota need not wait for it.
  void keysReady.then(() => {
    const keys = auth.store?.keys();
    if (!keys || !quotaSetup) return;
    for (const record of keys.byHash.values()) {
      if (hasQuota(record)) return quotaSetup.seeds.prefetch();
    }
  });
  flusher?.start();

  const server = createServer(
    {
      maxHeaderSize: config.MAX_HEADER_BYTES,
      headersTimeout: config.CLIENT_HEADERS_TIMEOUT * 1000,
      requestTimeout: config.CLIENT_REQUEST_TIMEOUT * 1000,
      // How often Node looks for clients over those timeouts.
      connectionsCheckingInterval: Math.min(1_000, config.CLIENT_HEADERS_TIMEOUT * 500),
    },
    app.callback(),
  );
  await listen(server, config.PORT, config.HOST);
  let metricsServer: Server | null = null;
  if (config.METRICS_PORT !== undefined) {
    metricsServer = createServer((req, res) => {
      if (req.url !== '/metrics') return void res.writeHead(404).end();
      metrics.render().then(({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body));
    });
    await listen(metricsServer, config.METRICS_PORT, config.METRICS_HOST);
    log.info({ address: metricsServer.address() }, 'metrics listening');
  }
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;
  const upstreams = config.UPSTREAM_URLS.map(upstreamName);
  log.info({ url, mode: auth.mode, upstream: upstreams.length === 1 ? upstreams[0] : upstreams, rate_limiter: limiters.status().backend }, 'gateway listening');

  let closing: Promise<void> | null = null;
  // Stop accepting, let requests in flight finish (bounded by SHUTDOWN_GRACE), then flush usage.
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), config.SHUTDOWN_GRACE * 1000);
      await stopped;
      clearTimeout(timer);
      // Requests cut at the grace limit still count their usage before the last flush.
      await inflight.idle(1_000);
      await quotaSetup?.close();
      await flusher?.stop();
      auth.store?.stop();
      await auth.store?.whenWritten();
      await limiters.close();
      metricsServer?.close();
      await upstream.close();
    })();
    return closing;
  };

  return { server, url, auth, usage: flusher, metricsServer, ready, close };
}
