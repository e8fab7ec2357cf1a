import type { Logger } from 'pino';
import { Pool, errors } from 'undici';
import { Discovery, fetchModels } from './discovery.ts';
import { Member, MemberSet, type Choice, type ModelEntry } from './members.ts';
import { upstreamName } from './urls.ts';

/** A model server the proxy can send to: its keep-alive pool and the path prefix of its base URL. */
export interface Target {
  pool: Pool;
  base: string;
}

export class Routed extends Member implements Target {
  constructor(name: string, readonly pool: Pool, readonly base: string) {
    super(name);
  }
}

/**
 * Connection failures before an answer: the upstream is not there (refused, reset, unreachable).
 * A headers timeout is not one: the server is alive and may be working on the request.
 */
const CONNECTION_FAILURES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN',
  'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_CLOSED',
]);

export function isConnectionFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CONNECTION_FAILURES.has(code);
}

export function failureLabel(err: unknown): string {
  return err instanceof errors.HeadersTimeoutError ? 'timeout' : 'error';
}

export interface RouterOptions {
  urls: string[];
  apiKey: string | undefined;
  poolOptions: Pool.Options;
  discoveryIntervalMs: number;
  log: Logger;
}

export interface UpstreamStatus {
  url: string;
  healthy: boolean | null;
  models: string[] | null;
  in_flight: number;
}

/** Several upstreams: one undici Pool each, the member set that chooses, and discovery. */
export class UpstreamRouter {
  readonly members: Routed[];
  readonly set: MemberSet;
  readonly discovery: Discovery;

  constructor(opts: RouterOptions) {
    this.members = opts.urls.map((raw) => {
      const url = new URL(raw);
      return new Routed(upstreamName(raw), new Pool(url.origin, opts.poolOptions), url.pathname.replace(/\/+$/, ''));
    });
    this.set = new MemberSet(this.members);
    this.discovery = new Discovery(this.set, (m) => fetchModels((m as Routed).pool, `${(m as Routed).base}/v1/models`, opts.apiKey), {
      intervalMs: opts.discoveryIntervalMs,
      log: opts.log,
    });
  }

  choose(model: string | null, exclude: Routed | null = null): Choice {
    return this.set.choose(model, exclude);
  }

  /** The healthy upstreams' models, each id once; null when none is healthy. */
  models(): ModelEntry[] | null {
    return this.set.anyHealthy ? this.set.union() : null;
  }

  status(): UpstreamStatus[] {
    return this.members.map((m) => ({
      url: m.name,
      healthy: m.healthy,
      models: m.models ? [...m.models.keys()] : null,
      in_flight: m.inFlight,
    }));
  }

  async close(): Promise<void> {
    this.discovery.stop();
    await Promise.all(this.members.map((m) => m.pool.close()));
  }
}
