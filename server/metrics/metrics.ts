import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { FastCounter, FastHistogram } from './fast.ts';

/** Latency buckets for a proxy in front of an LLM: sub-millisecond errors up to minutes-long streams. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** What /metrics reads at scrape time from the parts that own the numbers. */
export interface MetricSources {
  keys?: () => { loaded: number; rejected: number; ageSeconds: number | null };
  usagePendingKeys?: () => number;
  /** 1 up, 0 down; absent without Redis. */
  redisUp?: () => number;
  /** Each upstream's name (URL without credentials) and health; absent with a single upstream. */
  upstreams?: () => Array<{ url: string; healthy: boolean | null }>;
}

/** The gateway's Prometheus metrics, in a registry of their own (tests build several gateways). */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests: FastCounter;
  readonly duration: FastHistogram;
  readonly upstreamErrors: Counter<'kind'>;
  readonly rateLimited: Counter<'limit'>;
  readonly keyReloads: Counter<'result'>;
  readonly usageFlushes: Counter<'result'>;
  /** Upstream attempts by upstream and status (HTTP status, `error` or `timeout`); several upstreams only. */
  readonly upstreamRequests: Counter<'upstream' | 'status'> | null = null;
  private readonly upstreamChildren = new Map<string, Counter.Internal>();

  constructor(sources: MetricSources = {}) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // The two metrics every request touches are counted in plain numbers and handed to prom-client
    // at scrape time (fast.ts): prom-client validates and hashes the label set on every call.
    this.requests = new FastCounter({ name: 'cg_requests_total', help: 'Requests answered, by status and client name', labelNames: ['status', 'client'], registers });
    this.duration = new FastHistogram({ name: 'cg_request_duration_seconds', help: 'Time from request to the end of the answer', labelName: 'outcome', buckets: DURATION_BUCKETS, registers });
    this.upstreamErrors = new Counter({ name: 'cg_upstream_errors_total', help: 'Upstream failures: unavailable, timeout, failed mid-answer', labelNames: ['kind'], registers });
    this.rateLimited = new Counter({ name: 'cg_rate_limited_total', help: 'Requests refused with 429, by limit', labelNames: ['limit'], registers });
    this.keyReloads = new Counter({ name: 'cg_key_reloads_total', help: 'Key source loads, by result', labelNames: ['result'], registers });
    this.usageFlushes = new Counter({ name: 'cg_usage_flushes_total', help: 'Usage flushes, by result', labelNames: ['result'], registers });
    new Gauge({
      name: 'cg_keys_loaded', help: 'Keys in the current key set', registers,
      collect() { this.set(sources.keys?.().loaded ?? 0); },
    });
    new Gauge({
      name: 'cg_key_rows_rejected', help: 'Rows rejected in the current key set', registers,
      collect() { this.set(sources.keys?.().rejected ?? 0); },
    });
    new Gauge({
      name: 'cg_key_set_age_seconds', help: 'Seconds since the key set was loaded (-1: never)', registers,
      collect() { this.set(sources.keys?.().ageSeconds ?? -1); },
    });
    new Gauge({
      name: 'cg_usage_pending_keys', help: 'Keys with usage not yet written to the sheet', registers,
      collect() { this.set(sources.usagePendingKeys?.() ?? 0); },
    });
    const redisUp = sources.redisUp;
    if (redisUp) {
      new Gauge({
        name: 'cg_redis_up', help: '1 when Redis answers, 0 when limits have fallen back to memory', registers,
        collect() { this.set(redisUp() ?? 0); },
      });
    }
    const upstreams = sources.upstreams;
    if (upstreams) {
      new Gauge({
        name: 'cg_upstream_up', help: '1 when the upstream is in rotation, 0 while it is down and probed', labelNames: ['upstream'], registers,
        collect() {
          for (const u of upstreams()) this.set({ upstream: u.url }, u.healthy ? 1 : 0);
        },
      });
      this.upstreamRequests = new Counter({
        name: 'cg_upstream_requests_total', help: 'Requests sent to each upstream, by its answer status (error: connection failed; timeout: no headers in time)',
        labelNames: ['upstream', 'status'], registers,
      });
    }
  }

  /** One attempt on one of several upstreams (a retried request counts once per upstream tried). */
  upstreamResult(upstream: string, status: string): void {
    const key = `${upstream}\u0000${status}`;
    let counter = this.upstreamChildren.get(key);
    if (!counter) {
      counter = this.upstreamRequests!.labels({ upstream, status });
      this.upstreamChildren.set(key, counter);
    }
    counter.inc();
  }

  /** One finished request. `client` is the key's client name ('' when none). */
  observe(status: number, client: string, outcome: string | undefined, seconds: number): void {
    this.requests.inc(status, client);
    this.duration.observe(outcome ?? 'complete', seconds);
    if (outcome === 'upstream_unavailable' || outcome === 'upstream_timeout' || outcome === 'upstream_failed') this.upstreamErrors.inc({ kind: outcome });
    if (outcome === 'rate_limit_exceeded') this.rateLimited.inc({ limit: 'requests' });
    if (outcome === 'token_limit_exceeded') this.rateLimited.inc({ limit: 'tokens' });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
