import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareResults } from './compare.js';
import { readResults, RESULTS_SCHEMA, withStatistics } from './results.js';
import type { ResultRow } from './row.js';

/** A version-1 row (before per-image records): what nightly baselines written before schema 2 hold. */
const v1Row = (head: string, seed: number, acc: number): ResultRow => ({
  id: `b|${head}|lr=0.01|seed=${seed}`, backbone: 'b', head, lr: 0.01, seed, status: 'ok', plugins: { backbone: 'b', head }, inputSize: 96, classes: 5,
  batchSize: 32, epochs: 5, momentum: 0, dataset: 'd', trainImages: 600, valImages: 200, history: [], finalValAccuracy: acc, bestValAccuracy: acc,
  finalValLoss: 1, trainAccuracyInference: 0.9, skippedFiles: 0, seconds: 1, finishedAt: '',
});

describe('results files', () => {
  it('reads version 1 and derives groups and comparisons from its rows, less precisely', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-v1-'));
    const file = path.join(dir, 'results.json');
    const rows = [v1Row('gap', 1, 0.8), v1Row('gap', 2, 0.74), v1Row('flatten', 1, 0.64), v1Row('flatten', 2, 0.68)];
    fs.writeFileSync(file, JSON.stringify({ schema: RESULTS_SCHEMA, schemaVersion: 1, createdAt: '', updatedAt: '', environment: {}, config: {}, skippedFiles: [], rows }));
    const read = readResults(file);
    expect(read.schemaVersion).toBe(1);
    const derived = withStatistics(read);
    expect(derived.schemaVersion).toBe(2);
    expect(derived.baseline).toBe('gap');
    expect(derived.groups!.map((g) => [g.id, g.metrics.finalValAccuracy!.mean])).toEqual([['b|gap|lr=0.01', 0.77], ['b|flatten|lr=0.01', 0.66]]);
    expect(derived.comparisons![0]).toMatchObject({ candidate: 'flatten', baseline: 'gap', precision: 'accuracy-only', seeds: 2 });
    expect(derived.comparisons![0]!.notes.join(' ')).toMatch(/no per-image val records .* less precise/);
    // compare against the version-1 baseline works with what it has.
    // 10 points lower on both seeds is beyond the binomial noise of 200 images; a drop that one seed carries is not.
    const drop = (by: (r: ResultRow) => number) => compareResults(read, { ...read, rows: rows.map((r) => ({ ...r, finalValAccuracy: r.finalValAccuracy! - by(r) })) });
    expect(drop(() => 0.1).metrics.filter((m) => m.metric === 'accuracy').map((m) => m.verdict)).toEqual(['regression', 'regression']);
    const uneven = drop((r) => (r.seed === 1 ? 0.19 : 0.01)).metrics.filter((m) => m.metric === 'accuracy');
    expect(uneven.map((m) => m.verdict)).toEqual(['within-noise', 'within-noise']);
    expect(uneven[0]!.reason).toMatch(/over 2 seeds, images as binomial \(no per-image records: less precise\)/);
    fs.writeFileSync(file, JSON.stringify({ schema: RESULTS_SCHEMA, schemaVersion: 3, rows: [] }));
    expect(() => readResults(file)).toThrow(`${file} has results schema version 3; this headbench reads versions 1 and 2`);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('groups and compares heads per trainer; rows from before the trainer axis are sgd, with the ids they had', () => {
    const row = (head: string, seed: number, acc: number, trainer?: string): ResultRow => ({ ...v1Row(head, seed, acc), ...(trainer ? { trainer, id: `b|${head}|lr=0.01|seed=${seed}|trainer=${trainer}` } : {}) });
    const rows = [row('gap', 1, 0.8), row('gap', 2, 0.74), row('flatten', 1, 0.64), row('flatten', 2, 0.68), row('gap', 1, 0.82, 'adam'), row('gap', 2, 0.8, 'adam'), row('flatten', 1, 0.78, 'adam'), row('flatten', 2, 0.76, 'adam')];
    const derived = withStatistics({ schema: RESULTS_SCHEMA, schemaVersion: 1, createdAt: '', updatedAt: '', environment: {} as never, config: {}, skippedFiles: [], rows });
    expect(derived.groups!.map((g) => [g.id, g.trainer, g.rows.length])).toEqual([
      ['b|gap|lr=0.01', 'sgd', 2],
      ['b|flatten|lr=0.01', 'sgd', 2],
      ['b|gap|lr=0.01|trainer=adam', 'adam', 2],
      ['b|flatten|lr=0.01|trainer=adam', 'adam', 2],
    ]);
    // flatten against gap under each trainer, never across trainers.
    expect(derived.comparisons!.map((c) => [c.trainer, c.candidateGroup, c.baselineGroup])).toEqual([
      ['sgd', 'b|flatten|lr=0.01', 'b|gap|lr=0.01'],
      ['adam', 'b|flatten|lr=0.01|trainer=adam', 'b|gap|lr=0.01|trainer=adam'],
    ]);
  });
});
