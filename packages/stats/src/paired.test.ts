import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { tQuantile, normalQuantile } from './distributions.js';
import { accuracyDifference, DEFAULT_RESAMPLES, detectableDifference, pairedDifference, power, seedsNeeded, twoWay, verdictOf } from './paired.js';
import { decodeCorrect, encodeCorrect, correctnessRecord, fingerprintOf } from './correctness.js';

/** The SciPy/NumPy reference values of tools/stats-reference/make_fixture.py. */
interface Reference {
  scipy: string;
  tQuantile: { p: number; df: number; value: number }[];
  normalQuantile: { p: number; value: number }[];
  twoWay: {
    name: string;
    baseline: string[];
    candidate: string[];
    difference: number;
    rowVariance: number | null;
    colVariance: number;
    residualMeanSquare: number;
    varianceSeeds: number | null;
    varianceImages: number;
    se: number;
    df: number;
    ci95: [number, number];
    power: { delta: number; value: number }[];
    detectable: number;
  }[];
}
const reference = JSON.parse(fs.readFileSync(new URL('./fixtures/scipy-reference.json', import.meta.url), 'utf8')) as Reference;
const bitsOf = (s: string) => Uint8Array.from(s, (c) => (c === '1' ? 1 : 0));

describe('distributions against SciPy', () => {
  it('Student t and normal quantiles', () => {
    for (const r of reference.tQuantile) expect(tQuantile(r.p, r.df)).toBeCloseTo(r.value, 9);
    for (const r of reference.normalQuantile) expect(normalQuantile(r.p)).toBeCloseTo(r.value, 10);
    expect(tQuantile(0.975, Number.POSITIVE_INFINITY)).toBeCloseTo(1.959963984540054, 12);
  });
});

describe('per-image records', () => {
  it('round-trip through base64 bits; 10,000 images take 1,668 characters', () => {
    const correct = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 7919) % 3 === 0 ? 1 : 0);
    const record = correctnessRecord(correct, fingerprintOf(['a', 'b']));
    expect(record.correct.length).toBe(1668);
    expect(decodeCorrect(record)).toEqual(correct);
    expect(encodeCorrect([1, 0, 0, 0, 0, 0, 0, 0, 1])).toBe(Buffer.from([1, 1]).toString('base64'));
    expect(() => decodeCorrect({ ...record, images: 20_000 })).toThrow(/holds 1250 bytes, expected 2500/);
  });

  it('fingerprints depend on the order of the images', () => {
    expect(fingerprintOf(['a 0', 'b 1'])).not.toBe(fingerprintOf(['b 1', 'a 0']));
    expect(fingerprintOf(['a 0', 'b 1'])).toBe(fingerprintOf(['a 0', 'b 1']));
  });
});

describe('paired difference against NumPy and SciPy', () => {
  for (const c of reference.twoWay) {
    it(c.name, () => {
      const baseline = c.baseline.map(bitsOf);
      const candidate = c.candidate.map(bitsOf);
      const w = twoWay(baseline, candidate);
      expect(w.mean).toBeCloseTo(c.difference, 12);
      if (c.rowVariance !== null) expect(w.rowVariance).toBeCloseTo(c.rowVariance, 12);
      expect(w.colVariance).toBeCloseTo(c.colVariance, 12);
      expect(w.residualMeanSquare).toBeCloseTo(c.residualMeanSquare, 12);

      // The bootstrap's variance is a Monte Carlo estimate of the unbiased two-way variance:
      // with 4,000 resamples its relative error is about 1/sqrt(2 * 4000) = 1.1%.
      const e = pairedDifference({ baseline, candidate, key: c.name });
      expect(e.bootstrap?.resamples).toBe(DEFAULT_RESAMPLES);
      expect(e.difference).toBeCloseTo(c.difference, 12);
      expect(e.se / c.se).toBeGreaterThan(0.95);
      expect(e.se / c.se).toBeLessThan(1.05);
      if (c.varianceSeeds === null) expect(e.variance.seeds).toBeNull();
      // Rounded down like the reference; the bootstrap variance can move it by one.
    expect(Math.abs(e.df - c.df)).toBeLessThanOrEqual(Math.max(1, 0.1 * c.df));
      // The interval's ends within a fifth of a point of SciPy's t interval on the exact variance.
      expect(Math.abs(e.ci95[0] - c.ci95[0])).toBeLessThan(0.002 + 0.05 * c.se * 2);
      expect(Math.abs(e.ci95[1] - c.ci95[1])).toBeLessThan(0.002 + 0.05 * c.se * 2);
      expect(verdictOf(e.ci95)).toBe(verdictOf(c.ci95));

      // Power (the noncentral t's two tails) and the detectable size on SciPy's exact se and df.
      for (const p of c.power) expect(power(p.delta, c.se, c.df)).toBeCloseTo(p.value, 3);
      expect(detectableDifference(c.se, c.df) / c.detectable).toBeCloseTo(1, 2);
    });
  }

  it('gives the same interval for the same results, and one stable to well under a point across bootstrap seeds', () => {
    const c = reference.twoWay[1]!;
    const baseline = c.baseline.map(bitsOf);
    const candidate = c.candidate.map(bitsOf);
    const once = pairedDifference({ baseline, candidate, key: 'k' });
    expect(pairedDifference({ baseline, candidate, key: 'k' })).toEqual(once);
    const ends = Array.from({ length: 10 }, (_, k) => pairedDifference({ baseline, candidate, key: `k${k}` }).ci95);
    const spread = (i: 0 | 1) => Math.max(...ends.map((e) => e[i])) - Math.min(...ends.map((e) => e[i]));
    // 10 bootstrap seeds at 4,000 resamples: the ends move by less than 0.3 points.
    expect(spread(0)).toBeLessThan(0.003);
    expect(spread(1)).toBeLessThan(0.003);
  });

  it('says when seed noise is not measured, and when no number of seeds reaches 2 points on these images', () => {
    const one = reference.twoWay.find((c) => c.baseline.length === 1)!;
    const e = pairedDifference({ baseline: one.baseline.map(bitsOf), candidate: one.candidate.map(bitsOf), key: 'one' });
    expect(e.variance.seeds).toBeNull();
    expect(seedsNeeded(e)).toMatchObject({ seeds: null, reason: expect.stringMatching(/one seed/) });
    const five = reference.twoWay[1]!;
    const f = pairedDifference({ baseline: five.baseline.map(bitsOf), candidate: five.candidate.map(bitsOf), key: 'five' });
    // 200 images with this much image-level disagreement cannot resolve 2 points.
    expect(seedsNeeded(f)).toMatchObject({ seeds: null, reason: expect.stringMatching(/no number of seeds: the 200 evaluation images alone leave .* about \d+ images are needed/) });
    expect(seedsNeeded(f, 0.1).seeds).toBeGreaterThanOrEqual(2);
  });

  it('falls back to per-seed accuracies with binomial image noise when there are no per-image records', () => {
    const e = accuracyDifference([0.8, 0.74, 0.78], [0.64, 0.68, 0.71], 300);
    expect(e.precision).toBe('accuracy-only');
    expect(e.difference).toBeCloseTo(-0.09667, 4);
    // numpy: var([-0.16, -0.06, -0.07], ddof=1) / 3 + (p(1-p) + q(1-q)) / 300 with the mean accuracies
    const p = 0.77333;
    const q = 0.67667;
    expect(e.se).toBeCloseTo(Math.sqrt(0.003033333 / 3 + (p * (1 - p) + q * (1 - q)) / 300), 4);
    // Three seeds this spread leave it open: no difference detected.
    expect(verdictOf(e.ci95)).toBe('no difference detected');
    expect(verdictOf(accuracyDifference([0.8, 0.74, 0.78], [0.6, 0.55, 0.57], 300).ci95)).toBe('worse');
  });
});
