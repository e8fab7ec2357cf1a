import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { type Member, type MemberSet, type ModelEntry } from './members.ts';

/** A check (`GET /v1/models`) that takes longer than this counts as failed. */
export const CHECK_TIMEOUT_MS = 5_000;
/** A model list is a few KB; a larger answer is not a vLLM model list. */
const MAX_MODEL_LIST_BYTES = 1024 * 1024;

/** Asks one upstream what it serves: vLLM lists its `--served-model-name`s (and LoRA adapters). */
export async function fetchModels(pool: Dispatcher, path: string, apiKey: string | undefined): Promise<ReadonlyMap<string, ModelEntry>> {
  const res = await pool.request({
    path,
    method: 'GET',
    headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
    headersTimeout: CHECK_TIMEOUT_MS,
    bodyTimeout: CHECK_TIMEOUT_MS,
    signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
  });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > MAX_MODEL_LIST_BYTES) {
      res.body.destroy();
      throw new Error('model list too large');
    }
    chunks.push(chunk as Buffer);
  }
  if (res.statusCode !== 200) throw new Error(`GET /v1/models answered ${res.statusCode}`);
  const list = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data?: unknown };
  if (!Array.isArray(list?.data)) throw new Error('GET /v1/models answered without a data list');
  const models = new Map<string, ModelEntry>();
  for (const entry of list.data) {
    const id = (entry as { id?: unknown } | null)?.id;
    if (typeof id === 'string' && id !== '' && !models.has(id)) models.set(id, { ...(entry as object), id });
  }
  return models;
}

export interface DiscoveryOptions {
  intervalMs: number;
  log: Logger;
  now?: () => number;
}

/**
 * Keeps the member set current: every interval it asks each healthy upstream for its models;
 * a down upstream is probed on its own backoff schedule instead, and comes back on the first
 * good answer.
 */
export class Discovery {
  private timer: NodeJS.Timeout | null = null;
  private readonly probes = new Map<Member, NodeJS.Timeout>();
  private readonly checking = new Set<Member>();
  private stopped = false;
  private readonly now: () => number;

  constructor(
    private readonly set: MemberSet,
    private readonly fetch: (m: Member) => Promise<ReadonlyMap<string, ModelEntry>>,
    private readonly opts: DiscoveryOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** Runs the first round (resolves when every upstream answered or failed) and starts the timer. */
  start(): Promise<void> {
    this.timer = setInterval(() => void this.round(), this.opts.intervalMs);
    this.timer.unref();
    return this.round();
  }

  /** One discovery round over the healthy members. */
  async round(): Promise<void> {
    await Promise.all(this.set.members.filter((m) => m.healthy).map((m) => this.check(m)));
  }

  /** A request could not connect to `m`: out of rotation, probed after its backoff. */
  connectionFailed(m: Member, reason: string): void {
    if (this.set.markDown(m, this.now())) {
      this.opts.log.warn({ upstream: m.name, reason }, 'upstream down: connection failed; probing it with backoff');
      this.scheduleProbe(m);
    }
  }

  private async check(m: Member): Promise<void> {
    if (this.checking.has(m) || this.stopped) return;
    this.checking.add(m);
    try {
      const models = await this.fetch(m);
      const before = m.models;
      if (this.set.checkPassed(m, models)) this.opts.log.info({ upstream: m.name, models: [...models.keys()] }, 'upstream back up');
      else if (!sameKeys(before, models)) this.opts.log.info({ upstream: m.name, models: [...models.keys()] }, 'upstream models discovered');
    } catch (err) {
      const reason = (err as { code?: string }).code ?? (err as Error).message;
      if (this.set.checkFailed(m, this.now())) this.opts.log.warn({ upstream: m.name, reason }, 'upstream down: GET /v1/models failed; probing it with backoff');
      else this.opts.log.debug({ upstream: m.name, reason, next_probe_ms: m.probeAt - this.now() }, 'upstream probe failed');
      this.scheduleProbe(m);
    } finally {
      this.checking.delete(m);
    }
  }

  private scheduleProbe(m: Member): void {
    if (this.stopped || this.probes.has(m)) return;
    const timer = setTimeout(() => {
      this.probes.delete(m);
      void this.check(m);
    }, Math.max(0, m.probeAt - this.now()));
    timer.unref();
    this.probes.set(m, timer);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const t of this.probes.values()) clearTimeout(t);
    this.probes.clear();
  }
}

function sameKeys(a: ReadonlyMap<string, unknown> | null, b: ReadonlyMap<string, unknown>): boolean {
  if (a === null || a.size !== b.size) return false;
  for (const k of b.keys()) if (!a.has(k)) return false;
  return true;
}
