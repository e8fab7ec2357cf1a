/**
 * The per-request metrics, counted in plain numbers. prom-client's `labels().inc()` and
 * `observe()` validate and hash the label set, and allocate, on every call: about 7 µs of CPU per
 * request in a profile of the gateway at saturation (docs/performance.md). Here a request costs a
 * Map lookup and a few additions; prom-client still renders /metrics, reading these at scrape time,
 * and the exposition is the same text prom-client's own Counter and Histogram would print.
 */
import { Counter, type Registry } from 'prom-client';

/** A counter labelled by status and client: pending increments go into prom-client when scraped. */
export class FastCounter {
  private readonly pending = new Map<string, { status: number; client: string; n: number }>();
  private readonly counter: Counter<'status' | 'client'>;

  constructor(opts: { name: string; help: string; labelNames: ['status', 'client']; registers: Registry[] }) {
    const pending = this.pending;
    this.counter = new Counter({
      ...opts,
      collect() {
        for (const p of pending.values()) {
          if (p.n > 0) this.inc({ status: String(p.status), client: p.client }, p.n);
          p.n = 0;
        }
      },
    });
  }

  inc(status: number, client: string): void {
    const key = `${status}\u0000${client}`;
    const entry = this.pending.get(key);
    if (entry) entry.n += 1;
    else this.pending.set(key, { status, client, n: 1 });
  }
}

interface Series {
  /** Observations per bucket (not cumulative); the last slot is above the largest bound. */
  counts: Float64Array;
  sum: number;
  count: number;
}

interface MetricValue {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
  exemplar?: null;
}

/**
 * A histogram with one label, registered as a prom-client metric of its own: `get` and
 * `getForPromString` answer in prom-client's shape, so the registry prints it as a Histogram.
 */
export class FastHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();
  private readonly bounds: number[];
  private readonly labelName: string;

  constructor(opts: { name: string; help: string; labelName: string; buckets: number[]; registers: Registry[] }) {
    this.name = opts.name;
    this.help = opts.help;
    this.labelName = opts.labelName;
    this.bounds = [...opts.buckets].sort((a, b) => a - b);
    for (const r of opts.registers) r.registerMetric(this as never);
  }

  observe(label: string, value: number): void {
    if (!Number.isFinite(value)) return;
    let s = this.series.get(label);
    if (!s) {
      s = { counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.series.set(label, s);
    }
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i += 1;
    s.counts[i]! += 1;
    s.sum += value;
    s.count += 1;
  }

  async getForPromString(): Promise<{ name: string; help: string; type: string; values: MetricValue[]; aggregator: string }> {
    const values: MetricValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const [label, s] of this.series) {
      const shared = { [this.labelName]: label };
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += s.counts[i]!;
        values.push({ labels: { le }, sharedLabels: shared, value: acc, metricName: bucket, exemplar: null });
      });
      values.push({ labels: { le: '+Inf' }, sharedLabels: shared, value: s.count, metricName: bucket, exemplar: null });
      values.push({ labels: {}, sharedLabels: shared, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: shared, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The JSON form (registry.getMetricsAsJSON): labels and shared labels merged, as prom-client's Histogram does. */
  async get(): Promise<{ name: string; help: string; type: string; values: Array<Omit<MetricValue, 'sharedLabels'>>; aggregator: string }> {
    const data = await this.getForPromString();
    return { ...data, values: data.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } })) };
  }

  reset(): void {
    this.series.clear();
  }
}
