import type { Context } from 'koa';
import type { KeyRecord } from '../keys/types.ts';
import type { TokenLimiter } from '../ratelimit/types.ts';
import type { BodyTap, UpstreamProxy } from '../upstream/proxy.ts';
import type { UsageLedger } from '../usage/ledger.ts';
import { ModelListFilter, modelOf } from '../usage/models.ts';
import { COMPLETION_PATHS, planCompletion } from '../usage/request.ts';
import { JsonUsageTap, SseUsageTap } from '../usage/taps.ts';
import { ClientGone, readBody } from '../request/body.ts';
import { GatewayError } from '../errors.ts';
import type { RequestState } from './state.ts';

export interface ProxyDeps {
  upstream: UpstreamProxy;
  usage: UsageLedger | null;
  tokens: TokenLimiter;
  windowMs: number;
  maxBodyBytes: number;
}

interface Plan {
  body?: Buffer;
  hideUsageChunk: boolean;
  /** The model read from the body, when it was read (undefined: not read). */
  model?: string | null;
}

function isEventStream(contentType: string | string[] | undefined): boolean {
  return typeof contentType === 'string' && contentType.startsWith('text/event-stream');
}

function isJson(ctx: Context): boolean {
  return /^application\/(.+\+)?json/i.test(ctx.get('content-type'));
}

/** Refuses a request naming a model outside the key's allow-list. */
function checkModel(allowed: ReadonlySet<string>, model: string | null): void {
  if (model === null) throw new GatewayError('model_not_allowed', 'This API key is limited to some models: name one of them in "model".');
  if (!allowed.has(model)) throw new GatewayError('model_not_allowed');
}

/**
 * Reads the request body only when it must: to ask a stream for its usage chunk (counting keys)
 * or to check `model` against the key's allow-list. Everything else streams through untouched.
 */
async function planRequest(ctx: Context, key: KeyRecord | undefined, counting: boolean, maxBodyBytes: number, routing: boolean): Promise<Plan> {
  const allowed = key?.allowedModels ?? null;
  const completion = ctx.method === 'POST' && COMPLETION_PATHS.has(ctx.path);
  if (allowed && ctx.path.startsWith('/v1/models/')) checkModel(allowed, decodeURIComponent(ctx.path.slice('/v1/models/'.length)));
  // TEMPORARY (until the meter's request plan is merged): with several upstreams, a JSON body is
  // read to learn the model to route on. The plan will set ctx.state.model instead.
  const route = routing && ctx.method === 'POST' && isJson(ctx);
  const inspect = ctx.method === 'POST' && (allowed !== null || (counting && completion) || route);
  if (!inspect) return { hideUsageChunk: false };
  if (allowed && !isJson(ctx)) {
    throw new GatewayError('model_not_allowed', 'This API key is limited to some models, so only JSON requests naming one are accepted.');
  }
  const raw = await readBody(ctx.req, maxBodyBytes);
  if (completion && counting) {
    const plan = planCompletion(raw);
    if (allowed) checkModel(allowed, plan.model);
    return { body: plan.body, hideUsageChunk: plan.hideUsageChunk, model: plan.model };
  }
  const model = allowed || route ? modelOf(raw) : null;
  if (allowed) checkModel(allowed, model);
  return { body: raw, hideUsageChunk: false, model };
}

/** With several upstreams the gateway answers `GET /v1/models`: the union, narrowed to the key's models. */
function listModels(ctx: Context, upstream: UpstreamProxy, allowed: ReadonlySet<string> | null): void {
  const models = upstream.models();
  if (models === null) throw new GatewayError('upstream_unavailable', 'No model server is available.');
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { object: 'list', data: allowed ? models.filter((m) => allowed.has(m.id)) : models };
}

/** The last middleware: forwards to vLLM, taps answers for token counts, records spent tokens. */
export function proxy(deps: ProxyDeps) {
  return async function proxyMiddleware(ctx: Context): Promise<void> {
    const state = ctx.state as RequestState;
    const key = state.key;
    const counting = deps.usage !== null && key !== undefined;

    const routing = deps.upstream.routesByModel;
    // The canonical path once the meter's request plan is merged (it puts it in the forward options).
    if (routing && ctx.method === 'GET' && ctx.path === '/v1/models') {
      listModels(ctx, deps.upstream, key?.allowedModels ?? null);
      if (key) deps.usage?.add(key, { requests: 1, prompt_tokens: 0, completion_tokens: 0 });
      return;
    }

    let plan: Plan;
    try {
      plan = await planRequest(ctx, key, counting, deps.maxBodyBytes, routing && state.model === undefined);
    } catch (err) {
      if (!(err instanceof ClientGone)) throw err;
      ctx.respond = false;
      state.outcome = 'client_aborted';
      return;
    }

    let usageTap: JsonUsageTap | SseUsageTap | null = null;
    const chooseTap = (status: number, headers: Record<string, string | string[] | undefined>): BodyTap | null => {
      if (status >= 400) return null;
      if (key?.allowedModels && ctx.method === 'GET' && ctx.path === '/v1/models') return new ModelListFilter(key.allowedModels);
      if (!counting) return null;
      if (isEventStream(headers['content-type'])) usageTap = new SseUsageTap(plan.hideUsageChunk);
      else if (ctx.method === 'POST') usageTap = new JsonUsageTap();
      return usageTap;
    };

    ctx.respond = false;
    const model = state.model !== undefined ? state.model : plan.model;
    const result = await deps.upstream.forward(ctx.req, ctx.res, { body: plan.body, tap: chooseTap, model });
    state.sentStatus = result.status;
    state.outcome = result.outcome;
    if (!key) return;
    const spent = (usageTap as JsonUsageTap | SseUsageTap | null)?.usage;
    const prompt = spent?.prompt_tokens ?? 0;
    const completion = spent?.completion_tokens ?? 0;
    deps.usage?.add(key, { requests: 1, prompt_tokens: prompt, completion_tokens: completion });
    if (key.tpmLimit !== null && prompt + completion > 0) {
      await deps.tokens.record(key.keyId, prompt + completion, deps.windowMs).catch(() => undefined);
    }
  };
}
