import Koa from 'koa';
import type { Logger } from 'pino';
import type { GatewayMetrics } from './metrics/metrics.ts';
import { authenticate } from './http/authenticate.ts';
import { boundary } from './http/boundary.ts';
import { InFlight } from './http/inflight.ts';
import { proxy } from './http/proxy.ts';
import { rateLimit } from './http/ratelimit.ts';
import { gatewayRoutes } from './http/routes.ts';
import type { AuthState } from './http/state.ts';
import type { RateLimiter, TokenLimiter } from './ratelimit/types.ts';
import type { UpstreamProxy } from './upstream/proxy.ts';
import type { UsageLedger } from './usage/ledger.ts';

export interface AppDeps {
  auth: AuthState;
  upstream: UpstreamProxy;
  log: Logger;
  cacheTtlSeconds: number;
  adminApiKey: string | undefined;
  limiter: RateLimiter;
  tokenLimiter: TokenLimiter;
  rateLimitWindowMs: number;
  usage: UsageLedger | null;
  maxBodyBytes: number;
  metrics: GatewayMetrics | null;
  /** Requests in flight, for a shutdown that must not flush usage before they are counted. */
  inflight?: InFlight;
  /** Serve /metrics on the gateway's port (behind ADMIN_API_KEY) rather than a port of its own. */
  metricsOnPublicPort: boolean;
  /** Extra /auth/status fields from the rate limiter and usage flusher. */
  statusExtras?: () => Record<string, unknown>;
  now?: () => number;
}

function isGatewayPath(path: string): boolean {
  return path === '/health' || path === '/auth/status' || path === '/metrics' || path.startsWith('/admin/');
}

/** Builds the Koa app from its dependencies; never listens (gateway.ts does). */
export function buildApp(deps: AppDeps): Koa {
  const now = deps.now ?? Date.now;
  const app = new Koa();
  // Errors are answered and logged by `boundary`; Koa's own handler must not print them again.
  app.silent = true;
  const routes = gatewayRoutes({
    auth: deps.auth,
    log: deps.log,
    cacheTtlSeconds: deps.cacheTtlSeconds,
    adminApiKey: deps.adminApiKey,
    statusExtras: deps.statusExtras,
    metrics: deps.metricsOnPublicPort ? deps.metrics : null,
    upstreams: () => deps.upstream.status(),
  });

  app.use(boundary(deps.log, deps.metrics, deps.inflight ?? new InFlight()));
  // The router only sees the gateway's own paths; proxied requests skip its matching entirely.
  const own = routes.routes();
  app.use((ctx, next) => (isGatewayPath(ctx.path) ? own(ctx as Parameters<typeof own>[0], next) : next()));
  app.use(authenticate(deps.auth, deps.log, now));
  app.use(rateLimit(deps.limiter, deps.tokenLimiter, deps.rateLimitWindowMs, deps.usage));
  app.use(
    proxy({ upstream: deps.upstream, usage: deps.usage, tokens: deps.tokenLimiter, windowMs: deps.rateLimitWindowMs, maxBodyBytes: deps.maxBodyBytes }),
  );
  return app;
}
