import binomialFactoryModule from '@stdlib/random-base-binomial';
import { deriveSeed, seededRandom } from './random.js';
import { chisquareQuantile, normalCdf, normalQuantile, tQuantile } from './distributions.js';

/**
 * The difference in accuracy between two heads (candidate - baseline), paired by seed and by
 * image, with an interval that carries both sources of noise.
 *
 * The model: d[s][i] = candidate - baseline correctness of image i after training with seed s
 * (-1, 0 or 1). Its mean D over S seeds and N images estimates the difference a contributor wants
 * (over seeds and over images like these). Its variance has three parts (two-way random effects):
 * seeds (sigma_a^2 / S), images (sigma_b^2 / N: images one head gets right more often than the
 * other, whatever the seed) and their interaction (sigma_e^2 / SN). The evaluation images are the
 * same for every seed, so the image part does not shrink with more seeds: only more images help.
 *
 * The bootstrap resamples seeds (the same drawn seeds for both heads) and images (the same drawn
 * images for both heads and for every seed) in every resample. Each resample's deviation splits
 * exactly into a seed part (the drawn seeds' mean difference), an image part (the drawn images'
 * mean difference over seeds) and an interaction. Two known biases are corrected: a bootstrap of S
 * values has (S-1)/S of the variance of their mean, so the seed part is scaled by sqrt(S/(S-1));
 * and the per-seed difference already carries the interaction (its variance over seeds is
 * sigma_a^2 + sigma_e^2/N), so the image part is scaled to the image component alone (between-image
 * variance less the two-way residual over S) and the interaction is not added a second time. The
 * result's variance is the unbiased two-way estimate v_seeds/S + (v_images - MS_resid/S)/N.
 *
 * With 3 seeds the seed variance rests on 2 degrees of freedom, so the interval is
 * D +- t(df) * SE with Welch-Satterthwaite df, not the bootstrap's percentiles: a percentile
 * interval of 3 seeds covers about 80% when seeds dominate (see paired.test.ts).
 */
export interface DifferenceEstimate {
  difference: number;
  ci95: [number, number];
  /** Standard error of `difference`. */
  se: number;
  /** Welch-Satterthwaite degrees of freedom of `se`. */
  df: number;
  seeds: number;
  images: number;
  /** The variance of `difference` from the seeds (null with one seed: not measurable) and from the images. */
  variance: { seeds: number | null; images: number };
  /** The variance of one seed's difference on these images (null with one seed): it shrinks as 1/seeds. */
  perSeedVariance: number | null;
  /** The image part, which more seeds do not reduce. */
  imageVariance: number;
  /** The degrees of freedom of `imageVariance` as estimated here (for projecting to other seed counts). */
  imageDf: number;
  /** `per-image`: paired by image; `accuracy-only`: no per-image records, image noise as binomial (less precise). */
  precision: 'per-image' | 'accuracy-only';
  bootstrap: { resamples: number; seed: number } | null;
}

export interface PerImageInput {
  /** One correctness vector per seed (0 or 1 per image), seeds in the same order on both sides. */
  baseline: readonly Uint8Array[];
  candidate: readonly Uint8Array[];
  /** What the bootstrap's seed is derived from (the comparison's keys), so the same results give the same interval. */
  key: string;
  resamples?: number;
}

/**
 * Resamples per comparison. With 3 seeds the seed part's bootstrap is a discrete distribution
 * (27 equally likely draws) whose variance converges slowly: at 4,000 resamples the interval's
 * ends still moved by 2 points between bootstrap seeds on a real 3-seed run; at 100,000 they move
 * by well under half a point (docs/statistics.md). A resample costs O(S + 2S+1), so that is
 * about 0.1 s.
 */
export const DEFAULT_RESAMPLES = 100_000;

const binomialFactory = binomialFactoryModule.factory;

function variance(values: ArrayLike<number>, mean: number): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += (values[i]! - mean) ** 2;
  return values.length > 1 ? s / (values.length - 1) : 0;
}

function satterthwaite(parts: readonly { v: number; df: number }[]): number {
  const total = parts.reduce((s, p) => s + p.v, 0);
  const denominator = parts.reduce((s, p) => s + (p.df > 0 ? p.v ** 2 / p.df : 0), 0);
  if (!(total > 0) || !(denominator > 0)) return Math.max(1, ...parts.map((p) => p.df));
  return total ** 2 / denominator;
}

function interval(difference: number, se: number, df: number): [number, number] {
  const t = tQuantile(0.975, df);
  return [difference - t * se, difference + t * se];
}

/** The two-way decomposition of d[s][i]: per-seed means, per-image means and the residual mean square. */
export function twoWay(baseline: readonly Uint8Array[], candidate: readonly Uint8Array[]) {
  const S = baseline.length;
  const N = baseline[0]?.length ?? 0;
  const rowMeans = new Float64Array(S);
  const colMeans = new Float64Array(N);
  let total = 0;
  let sumSquares = 0;
  for (let s = 0; s < S; s++) {
    const a = baseline[s]!;
    const b = candidate[s]!;
    let row = 0;
    for (let i = 0; i < N; i++) {
      const d = b[i]! - a[i]!;
      row += d;
      colMeans[i]! += d;
      sumSquares += d * d;
    }
    rowMeans[s] = row / N;
    total += row;
  }
  for (let i = 0; i < N; i++) colMeans[i]! /= S;
  const mean = total / (S * N);
  const ssTotal = sumSquares - S * N * mean * mean;
  let ssRows = 0;
  for (let s = 0; s < S; s++) ssRows += N * (rowMeans[s]! - mean) ** 2;
  let ssCols = 0;
  for (let i = 0; i < N; i++) ssCols += S * (colMeans[i]! - mean) ** 2;
  const residualMeanSquare = S > 1 && N > 1 ? Math.max(0, ssTotal - ssRows - ssCols) / ((S - 1) * (N - 1)) : 0;
  return { S, N, mean, rowMeans, colMeans, residualMeanSquare, rowVariance: variance(rowMeans, mean), colVariance: variance(colMeans, mean) };
}

/**
 * Welch-Satterthwaite degrees of freedom of the variance v_seeds/S + (v_images - MS_resid/S)/N,
 * written in mean squares as (MS_seeds + MS_images - MS_resid)/(SN): the residual enters with a
 * minus sign, so the image part is known from far fewer than N-1 degrees of freedom when the
 * heads disagree image by image mostly at random. `imageDf` is the image part's own.
 */
function twoWayDf(w: ReturnType<typeof twoWay>, vSeeds: number, vImages: number): { df: number; imageDf: number } {
  const { S, N } = w;
  if (S === 1) return { df: N - 1, imageDf: N - 1 };
  const scale = S * N;
  const cols = ((S * w.colVariance) / scale) ** 2 / (N - 1);
  const resid = (w.residualMeanSquare / scale) ** 2 / ((S - 1) * (N - 1));
  const imageTerms = vImages > 0 ? cols + resid : 0;
  const imageDf = vImages > 0 && imageTerms > 0 ? vImages ** 2 / imageTerms : N - 1;
  const denominator = vSeeds ** 2 / (S - 1) + imageTerms;
  const df = denominator > 0 ? (vSeeds + vImages) ** 2 / denominator : N - 1;
  // Rounded down: Welch-Satterthwaite is slightly liberal with few degrees of freedom (94% instead
  // of 95% at 2-3 seeds in simulation.test.ts); the floor keeps the verdicts on the safe side.
  return { df: Math.max(1, Math.floor(df)), imageDf: Math.max(1, Math.floor(imageDf)) };
}

/** Paired by seed and image: the bootstrap described above. */
export function pairedDifference(input: PerImageInput): DifferenceEstimate {
  const S = input.baseline.length;
  if (S === 0 || S !== input.candidate.length) throw new Error(`pairedDifference needs the same seeds on both sides, got ${S} and ${input.candidate.length}`);
  const N = input.baseline[0]!.length;
  for (const v of [...input.baseline, ...input.candidate]) if (v.length !== N) throw new Error(`pairedDifference needs ${N} images in every record, got ${v.length}`);
  const w = twoWay(input.baseline, input.candidate);
  const resamples = input.resamples ?? DEFAULT_RESAMPLES;
  const seed = deriveSeed(0, `paired bootstrap ${input.key}`);
  const random = seededRandom(seed);

  // Scale factors that make the bootstrap's variance the unbiased two-way estimate.
  const seedScale = S > 1 ? Math.sqrt(S / (S - 1)) : 0;
  const imageTarget = S > 1 ? Math.max(0, w.colVariance - w.residualMeanSquare / S) : w.colVariance;
  const imageScale = w.colVariance > 0 && N > 1 ? Math.sqrt(((N / (N - 1)) * imageTarget) / w.colVariance) : 0;

  // An image resample draws N images with replacement; its mean over seeds depends only on how
  // many drawn images fall on each distinct per-image mean (at most 2S+1 values: d is -1, 0 or 1
  // per seed), so it is one multinomial draw over those values, as conditional binomials with
  // stdlib's sampler on the same seeded source: the same distribution as N single draws, in
  // O(2S+1) instead of O(N), so 10,000 images cost what 200 do.
  const values = new Map<number, number>();
  for (const c of w.colMeans) values.set(c, (values.get(c) ?? 0) + 1);
  const levels = [...values.entries()].sort((a, b) => a[0] - b[0]);
  const binomial = binomialFactory({ prng: random });

  const seedPart = new Float64Array(resamples);
  const imagePart = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let rows = 0;
    for (let j = 0; j < S; j++) rows += w.rowMeans[Math.floor(random() * S)]!;
    let cols = 0;
    let remaining = N;
    let mass = N;
    for (const [value, count] of levels) {
      if (remaining === 0) break;
      const drawn = count >= mass ? remaining : binomial(remaining, count / mass);
      cols += drawn * value;
      remaining -= drawn;
      mass -= count;
    }
    seedPart[b] = seedScale * (rows / S - w.mean);
    imagePart[b] = imageScale * (cols / N - w.mean);
  }
  const meanOf = (a: Float64Array) => a.reduce((s, v) => s + v, 0) / a.length;
  const vSeeds = S > 1 ? variance(seedPart, meanOf(seedPart)) : 0;
  const vImages = variance(imagePart, meanOf(imagePart));
  const se = Math.sqrt(vSeeds + vImages);
  const { df, imageDf } = twoWayDf(w, vSeeds, vImages);
  return {
    difference: w.mean,
    ci95: interval(w.mean, se, df),
    se,
    df,
    seeds: S,
    images: N,
    variance: { seeds: S > 1 ? vSeeds : null, images: vImages },
    perSeedVariance: S > 1 ? vSeeds * S : null,
    imageVariance: vImages,
    imageDf,
    precision: 'per-image',
    bootstrap: { resamples, seed },
  };
}

/**
 * Without per-image records (results from before they were kept): per-seed accuracies only. The
 * seeds' part is their spread; the image part is binomial for each side as if the images were
 * independent samples, an upper bound that ignores how the two sides agree (less precise).
 */
export function accuracyDifference(baseline: readonly number[], candidate: readonly number[], images: number): DifferenceEstimate {
  const S = baseline.length;
  if (S === 0 || S !== candidate.length) throw new Error(`accuracyDifference needs the same seeds on both sides, got ${S} and ${candidate.length}`);
  const diffs = candidate.map((q, s) => q - baseline[s]!);
  const mean = diffs.reduce((s, v) => s + v, 0) / S;
  const p = baseline.reduce((s, v) => s + v, 0) / S;
  const q = candidate.reduce((s, v) => s + v, 0) / S;
  const perSeed = S > 1 ? variance(diffs, mean) : null;
  const vImages = images > 0 ? (p * (1 - p) + q * (1 - q)) / images : 0;
  const vSeeds = perSeed === null ? 0 : perSeed / S;
  const se = Math.sqrt(vSeeds + vImages);
  const df = satterthwaite([
    { v: vSeeds, df: S - 1 },
    { v: vImages, df: Math.max(1, images - 1) },
  ]);
  return {
    difference: mean,
    ci95: interval(mean, se, df),
    se,
    df,
    seeds: S,
    images,
    variance: { seeds: perSeed === null ? null : vSeeds, images: vImages },
    perSeedVariance: perSeed,
    imageVariance: vImages,
    imageDf: Math.max(1, images - 1),
    precision: 'accuracy-only',
    bootstrap: null,
  };
}

export type PairedVerdict = 'better' | 'worse' | 'no difference detected';

/** `better` when the 95% interval lies above 0, `worse` below, else `no difference detected`. */
export function verdictOf(ci95: readonly [number, number]): PairedVerdict {
  if (ci95[0] > 0) return 'better';
  if (ci95[1] < 0) return 'worse';
  return 'no difference detected';
}

// Power of the two-sided t test: P(|Z + lambda| > t * sqrt(U / df)), U chi-squared(df), averaged
// over quantiles of U (the midpoint rule in probability), i.e. the noncentral t's tail probability.
const QUADRATURE = 256;
const chiRatios = new Map<number, Float64Array>();
function ratios(df: number): Float64Array {
  const key = Math.round(df * 1000) / 1000;
  let r = chiRatios.get(key);
  if (!r) {
    r = Float64Array.from({ length: QUADRATURE }, (_, k) => Math.sqrt(chisquareQuantile((k + 0.5) / QUADRATURE, key) / key));
    if (chiRatios.size > 2000) chiRatios.clear();
    chiRatios.set(key, r);
  }
  return r;
}

/** The probability that a true difference `delta` gives an interval that excludes 0, with this standard error and df. */
export function power(delta: number, se: number, df: number): number {
  if (!(se > 0)) return delta === 0 ? 0 : 1;
  const t = tQuantile(0.975, df);
  const lambda = Math.abs(delta) / se;
  if (df > 5000) return normalCdf(lambda - t) + normalCdf(-lambda - t);
  let sum = 0;
  for (const r of ratios(df)) sum += normalCdf(lambda - t * r) + normalCdf(-lambda - t * r);
  return sum / QUADRATURE;
}

export const DETECTION_POWER = 0.8;

/** The smallest true difference found with probability `target` (80%): bisection on `power`. */
export function detectableDifference(se: number, df: number, target = DETECTION_POWER): number {
  if (!(se > 0)) return 0;
  let lo = 0;
  let hi = se * (tQuantile(0.975, df) + normalQuantile(target)) * 4 + se;
  while (power(hi, se, df) < target) hi *= 2;
  for (let k = 0; k < 60 && hi - lo > 1e-7; k++) {
    const mid = (lo + hi) / 2;
    if (power(mid, se, df) < target) lo = mid;
    else hi = mid;
  }
  return hi;
}

export interface SeedsNeeded {
  /** The difference to detect (0.02: 2 points). */
  difference: number;
  /** Seeds that detect it at 80% power on these evaluation images; null when none can. */
  seeds: number | null;
  reason?: string;
}

const MAX_SEEDS = 1000;

/**
 * How many seeds would detect `difference` at 80% power, with this run's per-seed variance and
 * this evaluation set: se^2(S') = perSeed/S' + images. The image part stays whatever S' is, so
 * when it alone leaves the detectable size above `difference`, no number of seeds suffices.
 */
export function seedsNeeded(estimate: DifferenceEstimate, difference = 0.02): SeedsNeeded {
  const { perSeedVariance, imageVariance, imageDf } = estimate;
  if (perSeedVariance === null) return { difference, seeds: null, reason: 'seed noise is not measured with one seed: run at least 2 seeds' };
  const at = (seeds: number) => {
    const vSeeds = perSeedVariance / seeds;
    const df = satterthwaite([
      { v: vSeeds, df: seeds - 1 },
      { v: imageVariance, df: imageDf },
    ]);
    return detectableDifference(Math.sqrt(vSeeds + imageVariance), df);
  };
  const { images } = estimate;
  const floor = imageVariance > 0 ? detectableDifference(Math.sqrt(imageVariance), imageDf) : 0;
  if (floor > difference) {
    // The image part scales as 1/images: how many images it would take with very many seeds.
    const needed = Math.ceil(images * (floor / difference) ** 2);
    return { difference, seeds: null, reason: `no number of seeds: the ${images} evaluation images alone leave ${(100 * floor).toFixed(1)} points undetectable; about ${needed} images are needed` };
  }
  if (at(2) <= difference) return { difference, seeds: 2 };
  if (at(MAX_SEEDS) > difference) return { difference, seeds: null, reason: `more than ${MAX_SEEDS} seeds` };
  let lo = 2;
  let hi = MAX_SEEDS;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (at(mid) <= difference) hi = mid;
    else lo = mid;
  }
  return { difference, seeds: hi };
}
