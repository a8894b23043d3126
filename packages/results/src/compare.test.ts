import { describe, expect, it } from 'vitest';
import { compareResults } from './compare.js';
import { RESULTS_SCHEMA, RESULTS_SCHEMA_VERSION, type RunResults } from './results.js';
import type { ResultRow } from './row.js';
import { correctnessRecord, seededRandom } from '@headbench/stats';

/** Step-time samples around `ms` with a relative spread, seeded. */
function samples(ms: number, spread: number, n = 30, seed = 1): number[] {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => ms * (1 + spread * (r() * 2 - 1)));
}

function row(id: string, over: Partial<ResultRow> = {}): ResultRow {
  return {
    id, backbone: 'b', head: id, lr: 0.1, seed: 1, status: 'ok', plugins: { backbone: 'b', head: id }, inputSize: 96, classes: 5, batchSize: 32,
    epochs: 5, momentum: 0, dataset: 'd', trainImages: 600, valImages: 2000, history: [], finalValAccuracy: 0.8, bestValAccuracy: 0.8,
    finalValLoss: 0.5, trainAccuracyInference: 0.9, skippedFiles: 0, seconds: 1, finishedAt: '',
    stepTime: { coldMs: 1000, medianMs: 100, p90Ms: 110, samples: 30, imagesPerSecond: 320, samplesMs: samples(100, 0.02) },
    ...over,
  };
}

function results(rows: ResultRow[]): RunResults {
  return { schema: RESULTS_SCHEMA, schemaVersion: RESULTS_SCHEMA_VERSION, createdAt: '', updatedAt: '', environment: {} as RunResults['environment'], config: {}, skippedFiles: [], rows };
}

const verdicts = (c: ReturnType<typeof compareResults>) => c.metrics.map((m) => `${m.id}:${m.metric}:${m.verdict}`);

describe('compareResults', () => {
  it('flags a step-time regression beyond threshold and noise, and an improvement', () => {
    const base = results([row('slow'), row('fast')]);
    const cur = results([
      row('slow', { stepTime: { ...row('x').stepTime!, samplesMs: samples(125, 0.02, 30, 2) } }),
      row('fast', { stepTime: { ...row('x').stepTime!, samplesMs: samples(80, 0.02, 30, 3) } }),
    ]);
    const c = compareResults(base, cur);
    expect(verdicts(c)).toEqual(['slow:stepTime:regression', 'fast:stepTime:improvement', 'b|slow|lr=0.1:accuracy:unchanged', 'b|fast|lr=0.1:accuracy:unchanged']);
    expect(c.regressions).toBe(1);
    expect(c.improvements).toBe(1);
  });

  it('does not cry wolf when a change beyond the threshold is within the measured noise', () => {
    // Medians 100 and 115 ms (+15%), but the samples spread over ±40 ms.
    const spread = [-40, 40, -30, 30, -20, 20, -10, 10];
    const noisy = (ms: number) => ({ ...row('x').stepTime!, samplesMs: spread.map((d) => ms + d) });
    const c = compareResults(results([row('n', { stepTime: noisy(100) })]), results([row('n', { stepTime: noisy(115) })]));
    expect(c.metrics[0]!.verdict).toBe('within-noise');
    expect(c.regressions).toBe(0);
  });

  it('keeps flagging a tripled step when one sample stalled (a shared machine), where a standard deviation would not', () => {
    // Steps of about 15 ms with one of 876 ms, as measured under load here; then every step x3.
    const stalled = [...samples(15, 0.1, 9, 4), 876];
    const c = compareResults(results([row('s', { stepTime: { ...row('x').stepTime!, samplesMs: stalled } })]), results([row('s', { stepTime: { ...row('x').stepTime!, samplesMs: stalled.map((v) => v * 3) } })]));
    expect(c.metrics[0]!.verdict).toBe('regression');
  });

  it('without per-image records (a version-1 baseline), judges accuracy with binomial image noise and says it is less precise', () => {
    const drop = { finalValAccuracy: 0.75 };
    // 5 points lower on 2000 images is beyond ±2.6 points of noise; on 200 images it is not.
    const big = compareResults(results([row('a')]), results([row('a', drop)])).metrics[1]!;
    expect(big.verdict).toBe('regression');
    expect(big.reason).toMatch(/images as binomial \(no per-image records: less precise\); one seed: seed noise not measured/);
    const small = compareResults(results([row('a', { valImages: 200 })]), results([row('a', { ...drop, valImages: 200 })]));
    expect(small.metrics[1]!.verdict).toBe('within-noise');
  });

  /** Seeds 1..n of head `a` on `images` val images, right with probability `p` (+ a shift per seed), as per-image records. */
  function seeded(p: number, seeds: number, images: number, shift: (seed: number) => number, fingerprint = 'sha256:same'): ResultRow[] {
    const easy = Array.from({ length: images }, (_, i) => ((i * 7919) % 1000) / 1000);
    return Array.from({ length: seeds }, (_, k) => {
      const r = seededRandom(1000 * p + k);
      const correct = easy.map((e) => (e < p + shift(k + 1) + 0.05 * (r() - 0.5) ? 1 : 0));
      const acc = correct.reduce((s: number, v) => s + v, 0) / images;
      return row('a', { id: `b|a|lr=0.1|seed=${k + 1}`, seed: k + 1, valImages: images, finalValAccuracy: acc, perImage: { val: correctnessRecord(correct, fingerprint) } });
    });
  }

  it('pairs seeds and val images across runs: a 4-point drop over 3 seeds is a regression, seed noise of the same size is not', () => {
    const noise = (seed: number) => [0, 0.03, -0.03][seed - 1]!;
    const base = results(seeded(0.8, 3, 500, noise));
    const dropped = compareResults(base, results(seeded(0.76, 3, 500, noise))).metrics.find((m) => m.metric === 'accuracy')!;
    expect(dropped).toMatchObject({ id: 'b|a|lr=0.1', verdict: 'regression' });
    expect(dropped.reason).toMatch(/over 3 seeds and 500 images/);
    // The seeds disagree by 3 points among themselves: a 4-point change carried by one seed is not a regression.
    const oneSeed = compareResults(base, results(seeded(0.8, 3, 500, (s) => noise(s) + (s === 2 ? -0.12 : 0)))).metrics.find((m) => m.metric === 'accuracy')!;
    expect(oneSeed.change).toBeLessThan(-0.02);
    expect(oneSeed.verdict).toBe('within-noise');
  });

  it('refuses to pair val images that are not the same ones, saying why', () => {
    const c = compareResults(results(seeded(0.8, 2, 100, () => 0)), results(seeded(0.8, 2, 100, () => 0, 'sha256:other')));
    const m = c.metrics.find((x) => x.metric === 'accuracy')!;
    expect(m.verdict).toBe('not-compared');
    expect(m.reason).toMatch(/different val images .* cannot be paired/);
    expect(c.regressions).toBe(0);
  });

  it('reports missing and added rows and a status that got worse', () => {
    const c = compareResults(results([row('kept'), row('gone')]), results([row('kept', { status: 'diverged', finalValAccuracy: null }), row('new')]));
    expect(c.missing).toEqual(['gone']);
    expect(c.added).toEqual(['new']);
    expect(verdicts(c)).toEqual(['kept:status:regression']);
  });

  it('names the environment fields that differ', () => {
    const other = results([row('a')]);
    other.environment = { cpu: 'another cpu', cores: 8 } as RunResults['environment'];
    const base = results([row('a')]);
    base.environment = { cpu: 'cpu', cores: 8 } as RunResults['environment'];
    expect(compareResults(base, other).environmentChanges).toEqual(['cpu: "cpu" → "another cpu"']);
  });
});
