import type { Context } from 'koa';
import { GatewayError } from '../errors.ts';
import type { RequestPlan } from '../request/plan.ts';
import type { BodyTap, UpstreamProxy } from '../upstream/proxy.ts';
import type { UsageLedger } from '../usage/ledger.ts';
import { ModelListFilter } from '../usage/models.ts';
import { JsonUsageTap, SseUsageTap, type UsageTap } from '../usage/taps.ts';
import type { RequestState } from './state.ts';

export interface ProxyDeps {
  upstream: UpstreamProxy;
  usage: UsageLedger | null;
}

function isEventStream(contentType: string | string[] | undefined): boolean {
  return typeof contentType === 'string' && contentType.startsWith('text/event-stream');
}

/** Kinds whose answers carry token usage (audio reports seconds: counted as requests only). */
function spendsTokens(plan: RequestPlan): boolean {
  return plan.kind !== 'none' && plan.kind !== 'audio';
}

/**
 * The last middleware: forwards the plan upstream, taps the answer for what it spent, and sets
 * `state.spent` when the answer ends (complete, failed, or cut short by the client or the
 * shutdown grace); limiters and quotas settle from it.
 */
/** With several upstreams the gateway answers `GET /v1/models`: the union, narrowed to the key's models. */
function listModels(ctx: Context, upstream: UpstreamProxy, allowed: ReadonlySet<string> | null): void {
  const models = upstream.models();
  if (models === null) throw new GatewayError('upstream_unavailable', 'No model server is available.');
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { object: 'list', data: allowed ? models.filter((m) => allowed.has(m.id)) : models };
}

export function proxy(deps: ProxyDeps) {
  return async function proxyMiddleware(ctx: Context): Promise<void> {
    const state = ctx.state as RequestState;
    const plan = state.plan!;
    const key = state.key;
    // Tapped in every mode: the plan asked vLLM for usage the client may not want to see.
    const tapping = spendsTokens(plan);

    if (deps.upstream.routesByModel && ctx.method === 'GET' && plan.route === '/v1/models') {
      listModels(ctx, deps.upstream, key?.allowedModels ?? null);
      if (key) deps.usage?.add(key, { requests: 1, prompt_tokens: 0, completion_tokens: 0 });
      return;
    }

    let usageTap: UsageTap | null = null;
    const chooseTap = (status: number, headers: Record<string, string | string[] | undefined>): BodyTap | null => {
      if (status >= 400) return null;
      if (key?.allowedModels && ctx.method === 'GET' && plan.route === '/v1/models') return new ModelListFilter(key.allowedModels);
      if (!tapping) return null;
      usageTap = isEventStream(headers['content-type'])
        ? new SseUsageTap({ kind: plan.kind, final: plan.clientUsage.final, perChunk: plan.clientUsage.perChunk, n: plan.n })
        : new JsonUsageTap();
      return usageTap;
    };

    ctx.respond = false;
    state.spent = { prompt_tokens: 0, completion_tokens: 0 }; // no answer (the upstream failed): nothing spent
    const result = await deps.upstream.forward(ctx.req, ctx.res, { body: plan.body, tap: chooseTap, path: plan.target, model: state.model ?? null,
      headers: state.answerHeaders,
    });
    state.sentStatus = result.status;
    state.outcome = result.outcome;
    // Complete or cut short: what was seen of the answer is what it spent.
    const seen = (usageTap as UsageTap | null)?.usage;
    state.spent = { prompt_tokens: seen?.prompt_tokens ?? 0, completion_tokens: seen?.completion_tokens ?? 0 };
    if (key) deps.usage?.add(key, { requests: 1, ...state.spent });
  };
}
