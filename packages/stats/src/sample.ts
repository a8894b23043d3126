import { tQuantile } from './distributions.js';

/** The median of a sample (NaN for none): step times are reported as medians, never means. */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** Linear-interpolated quantile, as numpy's and tinybench's default. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

/** The two-sided 95% critical value of Student's t with `df` degrees of freedom (1.96 as df grows). */
export function tCritical95(df: number): number {
  return tQuantile(0.975, df);
}

/** Timing statistics with tinybench's field names and definitions, for samples timed elsewhere. */
export interface TimingStats {
  samples: number;
  mean: number;
  sd: number;
  /** Relative margin of error of the mean, in percent (95% confidence). */
  rme: number;
  min: number;
  max: number;
  p50: number;
  p99: number;
}

export function summarize(values: readonly number[]): TimingStats {
  const n = values.length;
  if (n === 0) return { samples: 0, mean: Number.NaN, sd: Number.NaN, rme: Number.NaN, min: Number.NaN, max: Number.NaN, p50: Number.NaN, p99: Number.NaN };
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const variance = n > 1 ? values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1) : 0;
  const sd = Math.sqrt(variance);
  const moe = (sd / Math.sqrt(n)) * tCritical95(n - 1);
  return {
    samples: n,
    mean,
    sd,
    rme: mean === 0 ? Number.POSITIVE_INFINITY : (100 * moe) / Math.abs(mean),
    min: Math.min(...values),
    max: Math.max(...values),
    p50: quantile(values, 0.5),
    p99: quantile(values, 0.99),
  };
}

/** n, mean, standard deviation and the 95% Student t interval of the mean over seeds. */
export interface MetricSummary {
  n: number;
  mean: number;
  /** Sample standard deviation (n - 1); null for one value. */
  sd: number | null;
  /** null for one value: one seed says nothing about the spread over seeds. */
  ci95: [number, number] | null;
  halfWidth: number | null;
}

export function describeValues(values: readonly number[]): MetricSummary | null {
  const n = values.length;
  if (n === 0) return null;
  const mean = values.reduce((s, v) => s + v, 0) / n;
  if (n === 1) return { n, mean, sd: null, ci95: null, halfWidth: null };
  const sd = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1));
  const halfWidth = (tQuantile(0.975, n - 1) * sd) / Math.sqrt(n);
  return { n, mean, sd, ci95: [mean - halfWidth, mean + halfWidth], halfWidth };
}
