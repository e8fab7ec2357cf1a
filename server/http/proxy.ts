import type { Context } from 'koa';
import type { UpstreamProxy } from '../upstream/proxy.ts';
import type { UsageLedger } from '../usage/ledger.ts';
import { COMPLETION_PATHS, planCompletion, type CompletionRequest } from '../usage/request.ts';
import { JsonUsageTap, SseUsageTap } from '../usage/taps.ts';
import { ClientGone, readBody } from './body.ts';
import type { RequestState } from './state.ts';

function isEventStream(contentType: string | string[] | undefined): boolean {
  return typeof contentType === 'string' && contentType.startsWith('text/event-stream');
}

/**
 * The last middleware: forwards to vLLM. Completion requests are read first (small JSON) so the
 * gateway can ask a stream for its usage chunk; answers are tapped for token counts on the way.
 */
export function proxy(upstream: UpstreamProxy, usage: UsageLedger | null, maxBodyBytes: number) {
  return async function proxyMiddleware(ctx: Context): Promise<void> {
    const state = ctx.state as RequestState;
    const key = state.key;
    const counting = usage !== null && key !== undefined;

    let plan: CompletionRequest | null = null;
    if (counting && ctx.method === 'POST' && COMPLETION_PATHS.has(ctx.path)) {
      try {
        plan = planCompletion(await readBody(ctx.req, maxBodyBytes));
      } catch (err) {
        if (!(err instanceof ClientGone)) throw err;
        ctx.respond = false;
        state.outcome = 'client_aborted';
        return;
      }
    }

    let tap: JsonUsageTap | SseUsageTap | null = null;
    ctx.respond = false;
    const result = await upstream.forward(ctx.req, ctx.res, {
      body: plan?.body,
      tap: counting
        ? (status, headers) => {
            if (status >= 400) return null;
            if (isEventStream(headers['content-type'])) tap = new SseUsageTap(plan?.hideUsageChunk ?? false);
            else if (ctx.method === 'POST') tap = new JsonUsageTap();
            return tap;
          }
        : undefined,
    });
    state.sentStatus = result.status;
    state.outcome = result.outcome;
    if (counting) {
      const tokens = (tap as JsonUsageTap | SseUsageTap | null)?.usage;
      usage.add(key, { requests: 1, prompt_tokens: tokens?.prompt_tokens ?? 0, completion_tokens: tokens?.completion_tokens ?? 0 });
    }
  };
}
