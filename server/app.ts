import Koa from 'koa';
import type { Logger } from 'pino';
import { authenticate } from './http/authenticate.ts';
import { boundary } from './http/boundary.ts';
import { gatewayRoutes } from './http/routes.ts';
import type { AuthState, RequestState } from './http/state.ts';
import type { UpstreamProxy } from './upstream/proxy.ts';

export interface AppDeps {
  auth: AuthState;
  upstream: UpstreamProxy;
  log: Logger;
  cacheTtlSeconds: number;
  adminApiKey: string | undefined;
  now?: () => number;
}

/** Builds the Koa app from its dependencies; never listens (main.ts does). */
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
  });

  app.use(boundary(deps.log));
  app.use(routes.routes());
  app.use(authenticate(deps.auth, deps.log, now));
  app.use(async (ctx) => {
    const state = ctx.state as RequestState;
    ctx.respond = false;
    const result = await deps.upstream.forward(ctx.req, ctx.res);
    state.sentStatus = result.status;
    state.outcome = result.outcome;
  });
  return app;
}
