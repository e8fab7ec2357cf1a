import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import type { GatewayMetrics } from '../metrics/metrics.ts';
import type { InFlight } from './inflight.ts';
import { GatewayError } from '../errors.ts';
import type { RequestState } from './state.ts';

/**
 * The one error path and the access log. Coded errors become OpenAI-shaped JSON; anything else
 * is logged and answered 500 without detail. Once the proxy has sent headers, a failure can
 * only close the connection.
 */
export function boundary(log: Logger, metrics: GatewayMetrics | null, inflight: InFlight) {
  // One async function per request, not two: every async frame is a promise and a microtask turn,
  // and Koa's chain already has one per middleware (docs/performance.md, "the default path").
  return async function boundaryMiddleware(ctx: Context, next: Next): Promise<void> {
    inflight.enter();
    const started = performance.now();
    const state = ctx.state as RequestState;
    try {
      try {
        await next();
      } catch (err) {
        const error = err instanceof GatewayError ? err : new GatewayError('internal_error');
        if (!(err instanceof GatewayError)) log.error({ err, method: ctx.method, path: ctx.path }, 'unhandled error');
        if (ctx.res.headersSent) {
          ctx.res.destroy();
        } else {
          ctx.respond = true;
          ctx.status = error.status;
          ctx.set(error.headers);
          ctx.body = error.body();
          state.outcome = error.code;
        }
      }
      // An answer Koa sends (an error, a 429, the gateway's own) carries the gateway's headers too;
      // the proxy wrote them with the upstream's.
      if (state.answerHeaders && !ctx.res.headersSent) ctx.set(state.answerHeaders);
      const status = state.sentStatus ?? ctx.status;
      const ms = performance.now() - started;
      metrics?.observe(status, state.key?.clientName ?? '', state.outcome, ms / 1000);
      log.info(
        {
          method: ctx.method,
          path: ctx.path,
          status,
          ms: Math.round(ms * 100) / 100,
          key_id: state.key?.keyId ?? state.keyId,
          client: state.key?.clientName,
          outcome: state.outcome,
        },
        'request',
      );
    } finally {
      inflight.leave();
    }
  };
}
