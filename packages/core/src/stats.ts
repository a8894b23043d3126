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

// Two-sided 95% critical values of Student's t for 1..30 degrees of freedom.
const T95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074,
  2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** Student's t critical value (95%, two-sided); a Cornish-Fisher expansion past 30 degrees of freedom. */
export function tCritical95(df: number): number {
  if (df < 1) return T95[0] as number;
  if (df <= 30) return T95[Math.round(df) - 1] as number;
  const z = 1.959964;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2);
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
