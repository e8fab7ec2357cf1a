import Router from '@koa/router';
import type { Logger } from 'pino';
import type { GatewayMetrics } from '../metrics/metrics.ts';
import { GatewayError } from '../errors.ts';
import { requireAdmin } from './authenticate.ts';
import type { AuthState } from './state.ts';

export interface RouteDeps {
  auth: AuthState;
  log: Logger;
  cacheTtlSeconds: number;
  adminApiKey: string | undefined;
  /** Extra fields for /auth/status from other capabilities (rate limiter, usage). */
  statusExtras?: () => Record<string, unknown>;
  /** Served at /metrics behind ADMIN_API_KEY; null when metrics have their own port. */
  metrics: GatewayMetrics | null;
  /** Each upstream's URL (credentials removed), health, models and requests in flight, for /admin/upstreams. */
  upstreams?: () => unknown[];
}

/** The gateway's own endpoints; everything else falls through to the proxy. */
export function gatewayRoutes(deps: RouteDeps): Router {
  const router = new Router();
  const { auth } = deps;

  router.get('/health', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  // Public: says how the gateway decides who gets in. Never a key, never a client name.
  router.get('/auth/status', (ctx) => {
    const store = auth.store?.status();
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      auth_enabled: auth.store !== null,
      mode: auth.mode,
      reason: auth.reason,
      keys_loaded: store?.keysLoaded ?? 0,
      rows_rejected: store?.rowsRejected ?? 0,
      last_refresh_at: store?.lastRefreshAt ?? null,
      cache_ttl_seconds: deps.cacheTtlSeconds,
      stale: store?.stale ?? false,
      last_error: store?.lastError ?? null,
      // Set while the gateway serves its STATE_DIR key-set snapshot (the source was unreachable at start).
      snapshot_at: store?.snapshotAt ?? null,
      ...deps.statusExtras?.(),
    };
  });

  const admin = requireAdmin(deps.adminApiKey);
  // Never proxied: vLLM's own /metrics is not for API clients.
  router.get('/metrics', async (ctx, next) => {
    if (!deps.metrics) throw new GatewayError('not_found');
    await admin(ctx, next);
  }, async (ctx) => {
    const { contentType, body } = await deps.metrics!.render();
    ctx.type = contentType;
    ctx.body = body;
  });
  router.all('/admin/reload-keys', admin, async (ctx) => {
    if (ctx.method !== 'GET' && ctx.method !== 'POST') throw new GatewayError('not_found');
    if (auth.store === null) throw new GatewayError('key_store_unavailable', `There is no key source to reload (mode ${auth.mode}).`);
    try {
      const keys = await auth.store.reload();
      deps.log.info({ keys_loaded: keys.byHash.size }, 'admin: keys reloaded');
      ctx.body = { keys_loaded: keys.byHash.size, rows_rejected: keys.rejected.length, last_refresh_at: new Date(keys.loadedAt).toISOString() };
    } catch (err) {
      throw new GatewayError('key_store_unavailable', `Reloading the keys failed: ${(err as Error).message}`);
    }
  });
  router.get('/admin/upstreams', admin, (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { upstreams: deps.upstreams?.() ?? [] };
  });
  router.all('/admin/{*rest}', admin, () => {
    throw new GatewayError('not_found');
  });

  return router;
}
