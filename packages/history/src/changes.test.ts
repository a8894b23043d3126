import { describe, expect, it } from 'vitest';
import { benjaminiHochberg, eDivisive, imageShift, permutationPValue, shiftEstimate, splitSegment, type NightValue } from './changes.js';
import { seededRandom } from './upstream.js';
import reference from './fixtures/scipy-reference.json' with { type: 'json' };

/** A standard normal from a seeded uniform (Box-Muller). */
function normal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

describe('E-divisive', () => {
  it('finds the split and its Q as Matteson & James define them (NumPy, tools/stats-reference/history_fixture.py)', () => {
    for (const s of reference.edivisive) {
      const best = eDivisive(s.x, 0, s.x.length, s.minSize)!;
      expect(best.tau).toBe(s.tau);
      expect(best.q).toBeCloseTo(s.q, 9);
    }
  });

  it('respects the smallest segment and a sub-segment', () => {
    expect(eDivisive([1, 2, 3], 0, 3, 2)).toBeUndefined();
    const x = [0, 0, 0, 5, 5, 5, 0, 0, 0];
    expect(eDivisive(x, 0, 6, 2)!.tau).toBe(3);
    expect(eDivisive(x, 3, 9, 2)!.tau).toBe(6);
  });
});

describe('significance', () => {
  it('Benjamini-Hochberg discovers what SciPy discovers', () => {
    for (const c of reference.bh) {
      const threshold = benjaminiHochberg(c.p, c.q);
      expect(c.p.map((p) => p <= threshold)).toEqual(c.discoveries);
    }
  });

  it('the permutation p-value of noise alone is uniform: about 5% of null series below 0.05 (simulation)', () => {
    const random = seededRandom(7);
    let below = 0;
    const trials = 400;
    for (let t = 0; t < trials; t++) {
      const x = Array.from({ length: 40 }, () => normal(random));
      const best = eDivisive(x, 0, 40, 2)!;
      if (permutationPValue(x, 0, 40, 2, best.q, { key: `null ${t}`, exceedances: 20, permutations: 999 }).p <= 0.05) below++;
    }
    // Binomial(400, 0.05): mean 20, sd 4.4.
    expect(below).toBeGreaterThanOrEqual(8);
    expect(below).toBeLessThanOrEqual(33);
  });

  it('finds two changes in one series, each within one night', () => {
    const random = seededRandom(3);
    const x = Array.from({ length: 40 }, (_, i) => normal(random) * 0.5 + (i >= 15 ? 3 : 0) - (i >= 30 ? 3 : 0));
    const options = { minSize: 2, key: 'two' };
    const first = splitSegment(x, 0, 40, options)!;
    expect(first.p).toBeLessThan(0.01);
    const second = first.index === 15 ? splitSegment(x, 15, 40, options)! : splitSegment(x, 0, first.index, options)!;
    expect(second.p).toBeLessThan(0.01);
    expect([first.index, second.index].sort((a, b) => a - b)).toEqual([15, 30]);
    // Nothing more on either side of both at the level that found them.
    for (const [a, b] of [[0, 15], [15, 30], [30, 40]] as const) expect(splitSegment(x, a, b, options)!.p).toBeGreaterThan(0.01);
  });
});

describe('noise of a shift', () => {
  /** Nights of three seeds: each seed's value is its own offset (drawn once, or every night) plus the night's and the shift. */
  const nights = (random: () => number, n: number, o: { nightSd: number; seedSd: number; offsets?: number[]; shift?: number[] }): NightValue[] =>
    Array.from({ length: n }, () => {
      const night = normal(random) * o.nightSd;
      const seeds = [0, 1, 2].map((s) => (o.shift?.[s] ?? 0) + night + (o.offsets ? o.offsets[s]! : normal(random) * o.seedSd));
      return { value: seeds.reduce((a, b) => a + b, 0) / 3, bySeed: new Map(seeds.map((v, s) => [s + 1, v])) };
    });

  it('covers the true shift 95% of the time when every night draws its seeds anew (simulation)', () => {
    const random = seededRandom(11);
    let covered = 0;
    const trials = 2000;
    for (let t = 0; t < trials; t++) {
      const e = shiftEstimate(nights(random, 24, { nightSd: 0.3, seedSd: 1 }), nights(random, 16, { nightSd: 0.3, seedSd: 1, shift: [0.5, 0.5, 0.5] }));
      if (e.interval[0] <= 0.5 && 0.5 <= e.interval[1]) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.94);
    expect(covered / trials).toBeLessThan(0.985);
  });

  it('claims no shift 95% of the time when nights repeat themselves and a change only reshuffles the seeds (deterministic training)', () => {
    const random = seededRandom(12);
    let quiet = 0;
    const trials = 2000;
    for (let t = 0; t < trials; t++) {
      const offsets = () => [normal(random), normal(random), normal(random)];
      const e = shiftEstimate(nights(random, 24, { nightSd: 0.01, seedSd: 0, offsets: offsets() }), nights(random, 16, { nightSd: 0.01, seedSd: 0, offsets: offsets() }));
      expect(e.noise).toBe('seeds');
      if (e.p > 0.05) quiet++;
    }
    expect(quiet / trials).toBeGreaterThan(0.93);
  });

  it('finds a shift every seed shares, though the seeds differ a lot', () => {
    const random = seededRandom(13);
    const offsets = [0, -10, 8];
    const e = shiftEstimate(nights(random, 24, { nightSd: 0.5, seedSd: 0, offsets }), nights(random, 16, { nightSd: 0.5, seedSd: 0, offsets, shift: [-3, -3, -3] }));
    expect(e.p).toBeLessThan(1e-6);
    expect(e.interval[1]).toBeLessThan(0);
  });

  it('takes the nights\' spread when a runner\'s speed moves every seed of a night alike (timings)', () => {
    const random = seededRandom(14);
    const e = shiftEstimate(nights(random, 24, { nightSd: 1, seedSd: 0.05 }), nights(random, 16, { nightSd: 1, seedSd: 0.05 }));
    expect(e.noise).toBe('nights');
  });
});

describe('paired per-image test', () => {
  it('matches SciPy\'s ttest_rel on the images\' shares right, and names the flipped images', () => {
    for (const c of reference.paired) {
      const s = imageShift(c.before.map((r) => Uint8Array.from(r)), c.after.map((r) => Uint8Array.from(r)));
      expect(s.difference).toBeCloseTo(c.difference, 12);
      expect(s.p).toBeCloseTo(c.p, 8);
    }
    const before = [Uint8Array.from([1, 1, 0, 0]), Uint8Array.from([1, 1, 0, 1])];
    const after = [Uint8Array.from([0, 1, 1, 0]), Uint8Array.from([0, 1, 1, 0])];
    const s = imageShift(before, after);
    expect(s.worse).toEqual([0]);
    expect(s.better).toEqual([2]);
  });
});
