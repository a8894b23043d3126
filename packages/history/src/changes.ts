import tCdfImpl from '@stdlib/stats-base-dists-t-cdf';
import { deriveSeed, seededRandom, tQuantile } from './upstream.js';


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

/** The best split of x[start..end) and its permutation p-value. */
export function splitSegment(x: ArrayLike<number>, start: number, end: number, options: SegmentationOptions): SplitPoint | undefined {
  const best = eDivisive(x, start, end, options.minSize);
  if (!best) return undefined;
  const { p, permutations } = permutationPValue(x, start, end, options.minSize, best.q, { key: `${options.key}|${start}-${end}`, ...(options.permutations ? { permutations: options.permutations } : {}), ...(options.exceedances ? { exceedances: options.exceedances } : {}) });
  return { index: best.tau, q: best.q, p, permutations, start, end };
}

const mean = (v: readonly number[]) => v.reduce((s, x) => s + x, 0) / v.length;
const sampleVariance = (v: readonly number[]) => {
  if (v.length < 2) return 0;
  const m = mean(v);
  return v.reduce((s, x) => s + (x - m) ** 2, 0) / (v.length - 1);
};

/** One night of a series: its value (the mean over its seeds) and each seed's value. */
export interface NightValue {
  value: number;
  bySeed: ReadonlyMap<number, number>;
}

export interface ShiftEstimate {
  before: number;
  after: number;
  difference: number;
  se: number;
  df: number;
  interval: [number, number];
  /** Two-sided p-value of "no shift" against the interval's noise. */
  p: number;
  /** Which noise was larger and so taken: the nights' spread, or the seeds' disagreement on the shift. */
  noise: 'nights' | 'seeds';
}

/**
 * The shift between two runs of nights (after - before) with a 95% interval, from the larger of the
 * two noises headbench measures:
 *
 * - the nights: the spread of the nights' values (means over seeds) on each side, over their
 *   number (Welch): a runner that is slower some nights, training that is not deterministic;
 * - the seeds: the shift measured seed by seed (each seed's mean after minus its mean before),
 *   whose spread over the k seeds says how much of the shift is the seeds' luck (k - 1 degrees of
 *   freedom). Nights that repeat themselves (training deterministic for a seed on one machine)
 *   have no spread of their own, and a change that only reshuffles rounding moves each seed by
 *   its own amount: the seeds disagree and no shift is claimed. A change of the head moves every
 *   seed alike.
 *
 * `extra` adds variance of the difference from elsewhere (the images, for accuracy).
 */
export function shiftEstimate(before: readonly NightValue[], after: readonly NightValue[], extra?: { variance: number; df: number }): ShiftEstimate {
  const bValues = before.map((n) => n.value);
  const aValues = after.map((n) => n.value);
  const vb = sampleVariance(bValues) / bValues.length;
  const va = sampleVariance(aValues) / aValues.length;
  const welch = vb ** 2 / Math.max(1, bValues.length - 1) + va ** 2 / Math.max(1, aValues.length - 1);
  const nights = { variance: vb + va, df: welch > 0 ? (vb + va) ** 2 / welch : Math.max(1, bValues.length + aValues.length - 2) };
  const seedMean = (side: readonly NightValue[], seed: number) => {
    const v = side.map((n) => n.bySeed.get(seed)).filter((x): x is number => x !== undefined);
    return v.length ? mean(v) : undefined;
  };
  const seeds = [...new Set(before.flatMap((n) => [...n.bySeed.keys()]))].filter((s) => after.some((n) => n.bySeed.has(s)));
  const perSeed = seeds.map((s) => seedMean(after, s)! - seedMean(before, s)!).filter((d) => Number.isFinite(d));
  const seedPart = perSeed.length > 1 ? { variance: sampleVariance(perSeed) / perSeed.length, df: perSeed.length - 1 } : undefined;
  const useSeeds = !!seedPart && seedPart.variance > nights.variance;
  const noise = useSeeds ? seedPart : nights;
  const parts = [noise, ...(extra ? [extra] : [])];
  const variance = parts.reduce((s, p) => s + p.variance, 0);
  const denominator = parts.reduce((s, p) => s + (p.variance > 0 ? p.variance ** 2 / p.df : 0), 0);
  const df = denominator > 0 ? variance ** 2 / denominator : 1;
  const se = Math.sqrt(variance);
  const t = tQuantile(0.975, Math.max(1, df));
  const difference = mean(aValues) - mean(bValues);
  const z = se > 0 ? Math.abs(difference) / se : difference === 0 ? 0 : Infinity;
  const p = Number.isFinite(z) ? 2 * (1 - tCdfImpl(z, Math.max(1, df))) : 0;
  return { before: mean(bValues), after: mean(aValues), difference, se, df, interval: [difference - t * se, difference + t * se], p, noise: useSeeds ? 'seeds' : 'nights' };
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
