import { describe, expect, it } from 'vitest';
import { seededRandom } from './random.js';
import { normalQuantile } from './distributions.js';
import { pairedDifference, power, verdictOf } from './paired.js';

/**
 * Simulated heads on simulated images: image i has an easiness q_i ~ U(0.25, 0.75) shared by both
 * heads, each head tilts each image by +-tilt (images one head gets right more often than the
 * other, whatever the seed: the image noise that more seeds do not remove), each training seed
 * shifts a head's accuracy by u ~ N(0, seedSd), and the candidate is `delta` better everywhere.
 * Image i is right with probability q_i + tilt + u (+ delta), never clipped, so the true
 * difference is exactly `delta`. Every simulated run draws new images and new seeds.
 */
interface Regime {
  seeds: number;
  images: number;
  seedSd: number;
  tilt: number;
}

function simulate(regime: Regime, delta: number, random: () => number) {
  const { seeds, images, seedSd, tilt } = regime;
  const easy = Float64Array.from({ length: images }, () => 0.25 + 0.5 * random());
  const tiltA = Float64Array.from({ length: images }, () => (random() < 0.5 ? -tilt : tilt));
  const tiltB = Float64Array.from({ length: images }, () => (random() < 0.5 ? -tilt : tilt));
  const normal = () => normalQuantile(Math.min(1 - 1e-12, Math.max(1e-12, random())));
  const draw = (t: Float64Array, shift: number) => {
    const u = seedSd * Math.max(-3, Math.min(3, normal())) + shift;
    return Uint8Array.from({ length: images }, (_, i) => (random() < easy[i]! + t[i]! + u ? 1 : 0));
  };
  const baseline = Array.from({ length: seeds }, () => draw(tiltA, 0));
  const candidate = Array.from({ length: seeds }, () => draw(tiltB, delta));
  return { baseline, candidate };
}

// 400 resamples here instead of 4,000: the standard error's Monte Carlo error is then
// 1/sqrt(800) = 3.5%, which moves a verdict rate by well under the binomial tolerance, and 1,600
// simulated runs take seconds.
const RESAMPLES = 200;
const RUNS = Number(process.env["SIM_RUNS"] ?? 1200);

function rates(regime: Regime, delta: number, seed: number) {
  const random = seededRandom(seed);
  let found = 0;
  let covered = 0;
  const differences: number[] = [];
  const dfs: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const { baseline, candidate } = simulate(regime, delta, random);
    const e = pairedDifference({ baseline, candidate, key: `run ${run}`, resamples: RESAMPLES });
    if (verdictOf(e.ci95) !== 'no difference detected') found += 1;
    if (e.ci95[0] <= delta && delta <= e.ci95[1]) covered += 1;
    differences.push(e.difference);
    dfs.push(e.df);
  }
  const mean = differences.reduce((s, v) => s + v, 0) / RUNS;
  const trueSe = Math.sqrt(differences.reduce((s, v) => s + (v - mean) ** 2, 0) / (RUNS - 1));
  // The power calculation's prediction: each run's own degrees of freedom with the true standard
  // error (the spread of the estimate over the simulated runs), averaged over the runs.
  const predicted = dfs.reduce((s, df) => s + power(delta, trueSe, df), 0) / RUNS;
  return { detected: found / RUNS, coverage: covered / RUNS, mean, trueSe, predicted };
}

const binomialSd = (p: number) => Math.sqrt((p * (1 - p)) / RUNS);

describe('simulation: two identical heads', () => {
  const regimes: [string, Regime][] = [
    ['3 seeds, 300 images, seeds and images both noisy', { seeds: 3, images: 300, seedSd: 0.03, tilt: 0.1 }],
    ['2 seeds, 200 images, seed noise dominates', { seeds: 2, images: 200, seedSd: 0.06, tilt: 0.05 }],
    ['5 seeds, 1,000 images, image noise dominates', { seeds: 5, images: 1000, seedSd: 0.005, tilt: 0.15 }],
  ];
  for (const [name, regime] of regimes) {
    it(`${name}: no difference detected in at least 95% of runs (within binomial tolerance)`, () => {
      const r = rates(regime, 0, 1000 + regime.seeds);
      console.log(`identical heads, ${name}: no difference detected in ${(100 * (1 - r.detected)).toFixed(1)}% of ${RUNS} runs`);
      // 95% is the target; 2 binomial standard deviations (2.2 points at 400 runs) of tolerance.
      expect(1 - r.detected).toBeGreaterThanOrEqual(0.95 - 2 * binomialSd(0.95));
    });
  }
});

describe('simulation: a planted difference', () => {
  const cases: [string, Regime, number][] = [
    ['3 seeds, 300 images, 6 points', { seeds: 3, images: 300, seedSd: 0.02, tilt: 0.1 }, 0.06],
    ['5 seeds, 1,000 images, 3 points', { seeds: 5, images: 1000, seedSd: 0.01, tilt: 0.1 }, 0.03],
  ];
  for (const [name, regime, delta] of cases) {
    it(`${name}: found at the rate the power calculation predicts`, () => {
      const r = rates(regime, delta, 2000 + regime.seeds);
      const predicted = r.predicted;
      console.log(`planted ${delta}, ${name}: found in ${(100 * r.detected).toFixed(1)}% of ${RUNS} runs, predicted ${(100 * predicted).toFixed(1)}%; interval covers the truth in ${(100 * r.coverage).toFixed(1)}%`);
      expect(r.mean).toBeCloseTo(delta, 2);
      expect(Math.abs(r.detected - predicted)).toBeLessThan(3 * binomialSd(predicted) + 0.02);
      expect(r.coverage).toBeGreaterThanOrEqual(0.95 - 2 * binomialSd(0.95));
    });
  }
});
