import { describe, expect, it } from 'vitest';
import { toGab } from './gab.js';
import { RESULTS_SCHEMA, RESULTS_SCHEMA_VERSION, type RunResults } from './results.js';
import type { ResultRow } from './row.js';

const row = (over: Partial<ResultRow>): ResultRow => ({
  id: 'm|gap|lr=0.01|seed=1', backbone: 'm', head: 'gap', lr: 0.01, seed: 1, status: 'ok', plugins: { backbone: 'm', head: 'gap' }, inputSize: 96, classes: 5,
  batchSize: 32, epochs: 5, momentum: 0, dataset: 'd', trainImages: 600, valImages: 200, history: [], finalValAccuracy: 0.81, bestValAccuracy: 0.825,
  finalValLoss: 0.5, trainAccuracyInference: 0.9, skippedFiles: 0, seconds: 1, finishedAt: '',
  stepTime: { coldMs: 900, medianMs: 201.234, p90Ms: 215, samples: 90, imagesPerSecond: 159, samplesMs: [] },
  ...over,
});

describe('toGab', () => {
  it("writes github-action-benchmark's custom JSON: times smaller-is-better, accuracy bigger-is-better, ok rows only", () => {
    const results: RunResults = {
      schema: RESULTS_SCHEMA, schemaVersion: RESULTS_SCHEMA_VERSION, createdAt: '', updatedAt: '', config: {}, skippedFiles: [],
      environment: { cpu: 'cpu', cores: 2, tfjsNode: '4.22.0', libtensorflow: '2.21.0' } as RunResults['environment'],
      rows: [row({}), row({ id: 'm|flatten|lr=0.1|seed=1', status: 'diverged' })],
    };
    const { smallerIsBetter, biggerIsBetter } = toGab(results);
    expect(smallerIsBetter).toEqual([{ name: 'm|gap|lr=0.01|seed=1 train step (median)', unit: 'ms', value: 201.23, range: '+13.8 (p90)', extra: '90 steps; cpu, 2 cores, tfjs-node 4.22.0, libtensorflow 2.21.0' }]);
    expect(biggerIsBetter.map((e) => [e.name, e.value])).toEqual([
      ['m|gap|lr=0.01|seed=1 final val accuracy', 0.81],
      ['m|gap|lr=0.01|seed=1 best val accuracy', 0.825],
    ]);
  });
});
