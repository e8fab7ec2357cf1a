import type { Context, Next } from 'koa';
import type Router from '@koa/router';
import { GatewayError } from '../errors.ts';
import { BufferBudget } from '../request/budget.ts';
import { ClientGone, readBodyWithin, type HeldBody } from '../request/body.ts';
import { endpointKind, isGatewayRoute, readsJsonBody, type ProxyPaths } from '../request/endpoints.ts';
import { canonicalPath } from '../request/path.ts';
import { planBody, type RequestPlan } from '../request/plan.ts';
import type { RequestState } from './state.ts';

/**
 * First after the boundary: canonicalises the path once (400 invalid_path), sends the gateway's
 * own paths (in any spelling and method) to its router, and lets the rest go on to be
 * authenticated. Nothing after this reads `req.url` again.
 */
export function routeRequest(own: ReturnType<Router['routes']>) {
  return async function routeMiddleware(ctx: Context, next: Next): Promise<void> {
    const where = canonicalPath(ctx.req.url ?? '/');
    if (!where.ok) throw new GatewayError('invalid_path', where.reason);
    (ctx.state as RequestState).where = where;
    if (!isGatewayRoute(where.route)) return next();
    // The router matches on ctx.path: give it the canonical spelling (`/%6Detrics` is /metrics).
    ctx.path = where.route;
    await own(ctx as Parameters<typeof own>[0], async () => {
      throw new GatewayError('not_found');
    });
  };
}

export interface PlanDeps {
  paths: ProxyPaths;
  budget: BufferBudget;
  maxBodyBytes: number;
  tokenReserveDefault: number;
}

function hasBody(ctx: Context): boolean {
  const length = ctx.req.headers['content-length'];
  return (length !== undefined && length !== '0') || ctx.req.headers['transfer-encoding'] !== undefined;
}

function isJson(ctx: Context): boolean {
  return /^application\/(.+\+)?json/i.test(ctx.get('content-type'));
}

/** Refuses a request naming a model outside the key's allow-list. */
function checkModel(allowed: ReadonlySet<string>, model: string | null): void {
  if (model === null) throw new GatewayError('model_not_allowed', 'This API key is limited to some models: name one of them in "model".');
  if (!allowed.has(model)) throw new GatewayError('model_not_allowed');
}

const SAGEMAKER_ADAPTER = 'x-amzn-sagemaker-adapter-identifier';

/**
 * After authentication, before any limit: the allow-list of proxied paths (404), the body read
 * once where the meter or a model allow-list needs it (its bytes held against
 * MAX_BUFFERED_BYTES until the request ends), the plan every later step takes. Sets
 * `state.plan`, `state.model` and `state.tokenBudget`.
 */
export function planRequest(deps: PlanDeps) {
  return async function planMiddleware(ctx: Context, next: Next): Promise<void> {
    const state = ctx.state as RequestState;
    const where = state.where!;
    if (!deps.paths.allows(where.route)) throw new GatewayError('not_found');
    const key = state.key;
    const allowed = key?.allowedModels ?? null;
    const kind = endpointKind(ctx.method, where.route);
    if (allowed && where.route.startsWith('/v1/models/')) checkModel(allowed, where.route.slice('/v1/models/'.length));

    const plan: RequestPlan = {
      target: where.path + where.query,
      route: where.route,
      kind,
      model: null,
      stream: false,
      clientUsage: { final: false, perChunk: false },
      n: 1,
      tokenBudget: 0,
    };
    // Read in every mode, so the plan (model, stream) is the same whether or not keys are checked.
    const meter = readsJsonBody(kind);
    const modelCheck = allowed !== null && ctx.method !== 'GET' && ctx.method !== 'HEAD' && hasBody(ctx);
    if (modelCheck && !meter && !isJson(ctx)) {
      throw new GatewayError('model_not_allowed', 'This API key is limited to some models, so only JSON requests naming one are accepted.');
    }

    let held: HeldBody | null = null;
    try {
      if (meter || modelCheck) {
        try {
          held = await readBodyWithin(ctx.req, deps.maxBodyBytes, deps.budget);
        } catch (err) {
          if (!(err instanceof ClientGone)) throw err;
          ctx.respond = false;
          state.outcome = 'client_aborted';
          return;
        }
        const adapter = kind === 'invocation' ? ctx.req.headers[SAGEMAKER_ADAPTER] : undefined;
        Object.assign(plan, planBody({ kind, body: held.body, defaultBudget: deps.tokenReserveDefault, adapterModel: typeof adapter === 'string' ? adapter : undefined }));
        if (allowed) checkModel(allowed, plan.model);
      }
      state.plan = plan;
      state.model = plan.model;
      state.tokenBudget = plan.tokenBudget;
      await next();
    } finally {
      held?.release();
    }
  };
}
