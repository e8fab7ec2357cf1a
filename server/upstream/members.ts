/**
 * Several model servers: what each serves, whether it answers, how busy it is, and which one a
 * request goes to. No I/O and no timers here: the clock comes in as an argument, so the
 * backoff and the choice are tested without sockets (discovery.ts and proxy.ts do the I/O).
 */

/** First pause before a down upstream is probed; it doubles per failed probe up to the cap. */
export const BACKOFF_FIRST_MS = 1_000;
export const BACKOFF_MAX_MS = 30_000;

/** A model entry as the upstream's `GET /v1/models` listed it (id plus vLLM's fields). */
export type ModelEntry = { id: string } & Record<string, unknown>;

export function backoffMs(failures: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.max(0, failures - 1));
}

export class Member {
  /** Requests sent and not yet finished (answer ended, cut, or failed). */
  inFlight = 0;
  /** What it served at its last good `GET /v1/models`; null until it first answered one. */
  models: ReadonlyMap<string, ModelEntry> | null = null;
  /** Presumed up until a connection fails: before discovery it can take requests naming no model. */
  healthy = true;
  /** Failed checks in a row since it went down: sets the backoff. */
  failures = 0;
  /** When a down member is probed next (ms since the epoch). */
  probeAt = 0;
  /** Pick sequence of its last request: the least recent wins a tie (ties taken in turn). */
  lastPick = 0;

  constructor(
    /** Its URL without credentials: the label in logs, metrics and /admin/upstreams. */
    readonly name: string,
  ) {}

  serves(model: string): boolean {
    return this.models?.has(model) ?? false;
  }
}

export type Choice = Member | 'model_not_found' | 'upstream_unavailable';

export class MemberSet {
  private picks = 0;

  constructor(readonly members: readonly Member[]) {}

  /**
   * The healthy member serving `model` (any healthy member when null) with the fewest requests
   * in flight; `exclude` is one that just failed this request. Denials are values: a model no
   * member lists is `model_not_found`, unless some member never answered discovery (it may be
   * the one serving it), and a model whose servers are all down is `upstream_unavailable`.
   */
  choose(model: string | null, exclude: Member | null = null): Choice {
    let best: Member | null = null;
    let listed = false;
    let unknown = false;
    for (const m of this.members) {
      if (model !== null) {
        if (m.models === null) unknown = true;
        if (!m.serves(model)) continue;
        listed = true;
      }
      if (!m.healthy || m === exclude) continue;
      if (best === null || m.inFlight < best.inFlight || (m.inFlight === best.inFlight && m.lastPick < best.lastPick)) best = m;
    }
    if (best !== null) {
      best.lastPick = ++this.picks;
      return best;
    }
    return model !== null && !listed && !unknown ? 'model_not_found' : 'upstream_unavailable';
  }

  /** A connection to it failed: out of rotation until a probe succeeds. True if it was up. */
  markDown(m: Member, now: number): boolean {
    if (!m.healthy) return false;
    m.healthy = false;
    m.failures = 1;
    m.probeAt = now + backoffMs(1);
    return true;
  }

  /** A check (discovery or probe) failed: down, and the next probe waits twice as long. */
  checkFailed(m: Member, now: number): boolean {
    const wasUp = m.healthy;
    m.healthy = false;
    m.failures = wasUp ? 1 : m.failures + 1;
    m.probeAt = now + backoffMs(m.failures);
    return wasUp;
  }

  /** A check answered with its model list: back in rotation. True if it was down. */
  checkPassed(m: Member, models: ReadonlyMap<string, ModelEntry>): boolean {
    const wasDown = !m.healthy;
    m.models = models;
    m.healthy = true;
    m.failures = 0;
    m.probeAt = 0;
    return wasDown;
  }

  /** The healthy members' models, each id once (the first member's entry), in member order. */
  union(): ModelEntry[] {
    const out = new Map<string, ModelEntry>();
    for (const m of this.members) {
      if (!m.healthy || m.models === null) continue;
      for (const [id, entry] of m.models) if (!out.has(id)) out.set(id, entry);
    }
    return [...out.values()];
  }

  get anyHealthy(): boolean {
    return this.members.some((m) => m.healthy);
  }
}
