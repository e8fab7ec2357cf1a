/** Nearest-rank percentile of unsorted samples (q in 0..1); NaN when there are none. */
export function percentile(samples: ArrayLike<number>, q: number): number {
  if (samples.length === 0) return NaN;
  const sorted = Float64Array.from(samples).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** The median of per-round figures (mean of the middle two for an even count); NaN if none. */
export function median(values: readonly number[]): number {
  const sorted = Float64Array.from(values.filter(Number.isFinite)).sort();
  const n = sorted.length;
  if (n === 0) return NaN;
  return n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

export interface Latency {
  p50: number;
  p99: number;
  max: number;
}

export function latency(samples: ArrayLike<number>): Latency {
  return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99), max: percentile(samples, 1) };
}

/** A figure over rounds: its median and the range it moved in. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** How many rounds gave a finite value. */
  n: number;
}

/** Median and min–max of per-round figures (non-finite ones ignored); NaNs when there are none. */
export function spread(values: readonly number[]): Spread {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  return { median: median(finite), min: Math.min(...finite), max: Math.max(...finite), n: finite.length };
}

/** `1.23 [1.10-1.40]`: a spread as the tables print it ('-' when there is no value). */
export function formatSpread(x: Spread, digits = 2): string {
  if (!Number.isFinite(x.median)) return '-';
  const f = (v: number): string => v.toFixed(digits);
  return x.n > 1 ? `${f(x.median)} [${f(x.min)}-${f(x.max)}]` : f(x.median);
}

/** `300,1000` → [300, 1000]: a command-line list of positive integers. */
export function parseList(text: string, name: string): number[] {
  const values = text.split(',').map((v) => Number(v.trim()));
  if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v <= 0)) throw new Error(`--${name} must be a comma-separated list of positive integers`);
  return values;
}
