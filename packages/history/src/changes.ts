import fQuantileImpl from '@stdlib/stats-base-dists-f-quantile';
import tCdfImpl from '@stdlib/stats-base-dists-t-cdf';
import { deriveSeed, seededRandom, tQuantile } from './from-core.js';

export const fQuantile = (p: number, d1: number, d2: number): number => fQuantileImpl(p, d1, d2);

/**
 * Change points of one series of nights: E-divisive means (Matteson & James 2014, as in Apache
 * Otava/Hunter) to place each change, a permutation test of its statistic for significance (the
 * night-to-night noise, with no assumption on its distribution), and binary segmentation for
 * several changes. The false discovery rate over many series is `benjaminiHochberg`'s job.
 */

/**
 * E-divisive's divergence between x[a..tau) and x[tau..b) (alpha = 1, the end of the segment as
 * kappa), for every tau with at least `minSize` values on each side:
 *
 *   Q(tau) = n m / (n + m) * ( 2/(n m) sum|X_i - Y_j| - sum_{i<k}|X_i - X_k| / C(n,2) - sum_{j<k}|Y_j - Y_k| / C(m,2) )
 *
 * Computed in O((b-a)^2) with running sums. Returns the tau of the largest Q and that Q.
 */
export function eDivisive(x: ArrayLike<number>, a: number, b: number, minSize: number): { tau: number; q: number } | undefined {
  const len = b - a;
  if (len < 2 * minSize) return undefined;
  // within(X) for X = x[a..a+1) and within(Y), cross for Y = x[a+1..b) to start.
  let withinX = 0;
  let withinY = 0;
  for (let i = a + 1; i < b; i++) for (let k = i + 1; k < b; k++) withinY += Math.abs(x[i]! - x[k]!);
  let cross = 0;
  for (let j = a + 1; j < b; j++) cross += Math.abs(x[a]! - x[j]!);
  let best: { tau: number; q: number } | undefined;
  // Moving tau from t to t + 1 moves x[t] from Y to X.
  for (let tau = a + 1; tau <= b - minSize; tau++) {
    if (tau > a + 1) {
      const t = tau - 1;
      let toX = 0; // sum over X (before t) of |x_i - x_t|
      for (let i = a; i < t; i++) toX += Math.abs(x[i]! - x[t]!);
      let toY = 0; // sum over the rest of Y (after t) of |x_t - x_j|
      for (let j = t + 1; j < b; j++) toY += Math.abs(x[t]! - x[j]!);
      withinX += toX;
      withinY -= toY;
      cross += toY - toX;
    }
    const n = tau - a;
    const m = b - tau;
    if (n < minSize) continue;
    const e = (2 * cross) / (n * m) - (n > 1 ? withinX / ((n * (n - 1)) / 2) : 0) - (m > 1 ? withinY / ((m * (m - 1)) / 2) : 0);
    const q = ((n * m) / (n + m)) * e;
    if (!best || q > best.q) best = { tau, q };
  }
  return best;
}

export interface PermutationOptions {
  /** Stop after this many permutations at least as extreme (Besag & Clifford 1991): null series end early. */
  exceedances?: number;
  /** Most permutations; the smallest p-value is 1 / (permutations + 1). */
  permutations?: number;
  /** What the permutations' seed is derived from, so the same history gives the same answer. */
  key: string;
}

/**
 * The p-value of E-divisive's largest Q in x[a..b) under "the nights are exchangeable" (no change):
 * the segment's nights are shuffled and the largest Q found again. Sequential (Besag & Clifford):
 * it stops once `exceedances` shuffles reach the observed Q, so p is (h + 1) / (r + 1) after r
 * shuffles with h at least as extreme.
 */
export function permutationPValue(x: ArrayLike<number>, a: number, b: number, minSize: number, observed: number, options: PermutationOptions): { p: number; permutations: number } {
  const h = options.exceedances ?? 10;
  const max = options.permutations ?? 9_999;
  const random = seededRandom(deriveSeed(0, options.key));
  const segment = Float64Array.from(Array.prototype.slice.call(x, a, b) as number[]);
  let hits = 0;
  let r = 0;
  // A tiny tolerance: shuffles that reproduce the observed order must count as "as extreme".
  const bar = observed * (1 - 1e-12) - 1e-300;
  while (r < max) {
    for (let i = segment.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      const t = segment[i]!;
      segment[i] = segment[j]!;
      segment[j] = t;
    }
    r++;
    const best = eDivisive(segment, 0, segment.length, minSize);
    if (best && best.q >= bar) hits++;
    if (hits >= h) return { p: hits / r, permutations: r };
  }
  return { p: (hits + 1) / (r + 1), permutations: r };
}

/**
 * Benjamini-Hochberg: the largest p-value threshold k q / m such that the k smallest p-values are
 * at or below their own rank's threshold (0 when none is). Tests at or below it are discoveries,
 * with the expected share of false ones at most q (independent or positively dependent tests).
 */
export function benjaminiHochberg(pValues: readonly number[], q: number): number {
  const sorted = [...pValues].sort((x, y) => x - y);
  const m = sorted.length;
  let threshold = 0;
  sorted.forEach((p, i) => {
    if (p <= ((i + 1) * q) / m) threshold = ((i + 1) * q) / m;
  });
  return threshold;
}

export interface SplitPoint {
  /** The first index after the change. */
  index: number;
  q: number;
  p: number;
  permutations: number;
  /** The segment it was found in, [start, end). */
  start: number;
  end: number;
}

export interface SegmentationOptions {
  minSize: number;
  key: string;
  permutations?: number;
  exceedances?: number;
}

/** The first split of the whole series (every series is tested once at this level for the FDR). */
export function firstSplit(x: ArrayLike<number>, options: SegmentationOptions): SplitPoint | undefined {
  return splitSegment(x, 0, x.length, options);
}

function splitSegment(x: ArrayLike<number>, start: number, end: number, options: SegmentationOptions): SplitPoint | undefined {
  const best = eDivisive(x, start, end, options.minSize);
  if (!best) return undefined;
  const { p, permutations } = permutationPValue(x, start, end, options.minSize, best.q, { key: `${options.key}|${start}-${end}`, ...(options.permutations ? { permutations: options.permutations } : {}), ...(options.exceedances ? { exceedances: options.exceedances } : {}) });
  return { index: best.tau, q: best.q, p, permutations, start, end };
}

/**
 * Binary segmentation from a significant first split: each side is split again while its best
 * split's p-value is at or below `alpha` (the level the FDR procedure gave this series).
 */
export function segment(x: ArrayLike<number>, first: SplitPoint, alpha: number, options: SegmentationOptions): SplitPoint[] {
  const found: SplitPoint[] = [first];
  const queue: [number, number][] = [[first.start, first.index], [first.index, first.end]];
  while (queue.length) {
    const [s, e] = queue.shift()!;
    const next = splitSegment(x, s, e, options);
    if (next && next.p <= alpha) {
      found.push(next);
      queue.push([s, next.index], [next.index, e]);
    }
  }
  return found.sort((u, v) => u.index - v.index);
}

const mean = (v: readonly number[]) => v.reduce((s, x) => s + x, 0) / v.length;
const sampleVariance = (v: readonly number[]) => {
  if (v.length < 2) return 0;
  const m = mean(v);
  return v.reduce((s, x) => s + (x - m) ** 2, 0) / (v.length - 1);
};

/** One night of a series: its value (the mean over seeds) and the seeds' values. */
export interface NightValue {
  value: number;
  seeds: readonly number[];
}

/** Where a side's noise was taken from; see `sideNoise`. */
export type NoiseSource = 'nights' | 'nights and seeds' | 'seeds';

export interface SideNoise {
  mean: number;
  /** The variance of the side's mean. */
  variance: number;
  df: number;
  source: NoiseSource;
}

/**
 * The variance of the mean of a run of nights, from the two spreads headbench measures: the
 * nights' values around their mean (v_n, n - 1 degrees of freedom) and the seeds within each night
 * (pooled, over k seeds: v_s = s^2 / k is what one night's mean would vary by with other seeds).
 *
 * - Nights that vary as much as seeds predict (an F test at 1% either way does not tell them
 *   apart) are independent draws: both spreads estimate one variance, pooled for more degrees of
 *   freedom, divided by the nights.
 * - Nights that vary more (a runner's speed, for timings): the nights' spread over the nights.
 * - Nights that vary less than seeds predict repeat themselves (training is deterministic for a
 *   seed on one machine): the side's nights share one draw of their seeds, so its mean varies by
 *   v_s whatever the number of nights, and a code change that only reshuffles rounding is not
 *   mistaken for a change of the head.
 */
export function sideNoise(nights: readonly NightValue[]): SideNoise {
  const values = nights.map((n) => n.value);
  const n = values.length;
  const vn = sampleVariance(values);
  const withSeeds = nights.filter((x) => x.seeds.length > 1);
  const seedDf = withSeeds.reduce((s, x) => s + x.seeds.length - 1, 0);
  const m = mean(values);
  if (!seedDf) return { mean: m, variance: vn / n, df: Math.max(1, n - 1), source: 'nights' };
  const pooledSeeds = withSeeds.reduce((s, x) => s + sampleVariance([...x.seeds]) * (x.seeds.length - 1), 0) / seedDf;
  const k = withSeeds.reduce((s, x) => s + x.seeds.length, 0) / withSeeds.length;
  const vs = pooledSeeds / k;
  if (n < 2) return { mean: m, variance: vs, df: seedDf, source: 'seeds' };
  const nightDf = n - 1;
  if (vs > 0 && vn > vs * fQuantile(0.99, nightDf, seedDf)) return { mean: m, variance: vn / n, df: nightDf, source: 'nights' };
  // Nights that repeat themselves repeat their seeds' values too: the spread of k seeds has k - 1
  // degrees of freedom, however many nights show it.
  if (vn === 0 ? vs > 0 : vs > vn * fQuantile(0.99, seedDf, nightDf)) return { mean: m, variance: vs, df: Math.max(1, k - 1), source: 'seeds' };
  const pooled = (vn * nightDf + vs * seedDf) / (nightDf + seedDf);
  return { mean: m, variance: pooled / n, df: nightDf + seedDf, source: 'nights and seeds' };
}

export interface ShiftEstimate {
  before: number;
  after: number;
  difference: number;
  se: number;
  df: number;
  interval: [number, number];
  noise: { before: NoiseSource; after: NoiseSource };
}

/**
 * The shift between two runs of nights (after - before) with a 95% Welch interval from each side's
 * `sideNoise`; `extra` adds variance of the difference from elsewhere (the images, for accuracy),
 * with its degrees of freedom.
 */
export function shiftEstimate(before: readonly NightValue[], after: readonly NightValue[], extra?: { variance: number; df: number }): ShiftEstimate {
  const b = sideNoise(before);
  const a = sideNoise(after);
  const parts = [b, a, ...(extra ? [{ variance: extra.variance, df: extra.df }] : [])];
  const variance = parts.reduce((s, p) => s + p.variance, 0);
  const denominator = parts.reduce((s, p) => s + (p.variance > 0 ? p.variance ** 2 / p.df : 0), 0);
  const df = denominator > 0 ? variance ** 2 / denominator : 1;
  const se = Math.sqrt(variance);
  const t = tQuantile(0.975, Math.max(1, df));
  const difference = a.mean - b.mean;
  return { before: b.mean, after: a.mean, difference, se, df, interval: [difference - t * se, difference + t * se], noise: { before: b.source, after: a.source } };
}

export interface ImageShift {
  images: number;
  /** Mean over images of (share right after - share right before), over every night and seed of each side. */
  difference: number;
  variance: number;
  df: number;
  /** Two-sided p-value of the paired t test over images. */
  p: number;
  /** Images right in most runs before and wrong in most after, and the reverse. */
  worse: number[];
  better: number[];
}

/**
 * The paired per-image test between the nights before and after a change: each image's share of
 * runs (nights x seeds) that got it right, after minus before; a t test over the images (the same
 * images on both sides, as the fingerprints say).
 */
export function imageShift(before: readonly Uint8Array[], after: readonly Uint8Array[]): ImageShift {
  const images = before[0]?.length ?? 0;
  const share = (runs: readonly Uint8Array[]) => {
    const s = new Float64Array(images);
    for (const r of runs) for (let i = 0; i < images; i++) s[i]! += r[i]!;
    for (let i = 0; i < images; i++) s[i]! /= runs.length;
    return s;
  };
  const pb = share(before);
  const pa = share(after);
  const d = Array.from(pa, (v, i) => v - pb[i]!);
  const difference = mean(d);
  const variance = sampleVariance(d) / images;
  const df = images - 1;
  const t = variance > 0 ? difference / Math.sqrt(variance) : difference === 0 ? 0 : Infinity;
  const p = Number.isFinite(t) ? 2 * (1 - tCdfImpl(Math.abs(t), df)) : 0;
  const worse: number[] = [];
  const better: number[] = [];
  for (let i = 0; i < images; i++) {
    if (pb[i]! > 0.5 && pa[i]! < 0.5) worse.push(i);
    else if (pb[i]! < 0.5 && pa[i]! > 0.5) better.push(i);
  }
  return { images, difference, variance, df, p, worse, better };
}
