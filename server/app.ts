import Koa from 'koa';
import type { Logger } from 'pino';
import type { GatewayMetrics } from './metrics/metrics.ts';
import { authKey } from './http/auth-key.ts';
import { authenticate } from './http/authenticate.ts';
import { boundary } from './http/boundary.ts';
import { InFlight } from './http/inflight.ts';
import { proxy } from './http/proxy.ts';
import { quota } from './http/quota.ts';
import { rateLimit } from './http/ratelimit.ts';
import { planRequest, routeRequest } from './http/request.ts';
import { BufferBudget } from './request/budget.ts';
import { ProxyPaths } from './request/endpoints.ts';
import { gatewayRoutes } from './http/routes.ts';
import type { AuthState } from './http/state.ts';
import type { Quotas } from './quota/quotas.ts';
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
  /** PROXY_PATHS as configured; undefined: the default allow-list. */
  proxyPaths?: string;
  /** TOKEN_RESERVE_DEFAULT. */
  tokenReserveDefault: number;
  /** MAX_BUFFERED_BYTES, or a shared budget (tests). */
  bodyBudget: BufferBudget | number;
  metrics: GatewayMetrics | null;
  /** Requests in flight, for a shutdown that must not flush usage before they are counted. */
  inflight?: InFlight;
  /** Serve /metrics on the gateway's port (behind ADMIN_API_KEY) rather than a port of its own. */
  metricsOnPublicPort: boolean;
  /** Extra /auth/status fields from the rate limiter and usage flusher. */
  statusExtras?: () => Record<string, unknown>;
  /** Client quotas; null when no key source is checked. */
  quotas?: Quotas | null;
  now?: () => number;
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
  // One reading of each request: canonical path first (the gateway's own paths end here), then
  // the key, then the plan (allow-list, body, budget), then limits, then the upstream.
  app.use(routeRequest(routes.routes()));
  app.use(authenticate(deps.auth, deps.log, now));
  const timeZone = (): string => deps.auth.store?.keys()?.timeZone ?? 'UTC';
  // The caller's own standing: answered here, never proxied, limited or counted.
  app.use(authKey({ limiter: deps.limiter, tokens: deps.tokenLimiter, windowMs: deps.rateLimitWindowMs, quotas: deps.quotas ?? null, timeZone }));
  app.use(
    planRequest({
      paths: new ProxyPaths(deps.proxyPaths),
      budget: typeof deps.bodyBudget === 'number' ? new BufferBudget(deps.bodyBudget) : deps.bodyBudget,
      maxBodyBytes: deps.maxBodyBytes,
      tokenReserveDefault: deps.tokenReserveDefault,
    }),
  );
  app.use(rateLimit({ limiter: deps.limiter, tokens: deps.tokenLimiter, windowMs: deps.rateLimitWindowMs, usage: deps.usage, tokenReserveDefault: deps.tokenReserveDefault }));
  if (deps.quotas) app.use(quota(deps.quotas, timeZone, deps.usage));
  app.use(proxy({ upstream: deps.upstream, usage: deps.usage }));
  return app;
}
