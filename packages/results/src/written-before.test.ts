import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readResults, withStatistics } from './results.js';
import { renderSummary, resultsCsv } from './summary.js';

// Written by `headbench run` at main 0210946, before core was split into data, stats, results and
// testing (6 combinations of gap, gmp and flatten over 2 seeds with a test split, on flowers-mini):
//   npx headbench run --head gap --head gmp --head flatten --lr 0.01 --seed 1 --seed 2 --epochs 1 \
//     --input-size 64 --test-split 0.2 --no-bench --quiet --out <dir>
// A results file of any earlier headbench must still load, and what is derived from its rows
// (groups, comparisons, results.csv, summary.md) must come out as that headbench wrote it.
const fixture = (name: string) => new URL(`../fixtures/written-by-0210946/${name}`, import.meta.url);
const written = (name: string) => fs.readFileSync(fixture(name), 'utf8');

describe('a results folder written before the split', () => {
  const results = readResults(fixture('results.json').pathname);

  it('loads, with every row, run and setting', () => {
    expect(results.rows.map((r) => r.id)).toEqual([
      'mobilenetv2:alpha=0.35|gap|lr=0.01|seed=1',
      'mobilenetv2:alpha=0.35|gap|lr=0.01|seed=2',
      'mobilenetv2:alpha=0.35|gmp|lr=0.01|seed=1',
      'mobilenetv2:alpha=0.35|gmp|lr=0.01|seed=2',
      'mobilenetv2:alpha=0.35|flatten|lr=0.01|seed=1',
      'mobilenetv2:alpha=0.35|flatten|lr=0.01|seed=2',
    ]);
    expect(results.runs).toHaveLength(1);
    expect(results.config).toMatchObject({ inputSize: 64, epochs: 1, batchSize: 32 });
    expect(results.rows.every((r) => r.perImage?.val && r.perImage.test)).toBe(true);
  });

  it('derives the same groups and comparisons from its rows as were written', () => {
    const derived = withStatistics({ ...results, groups: [], comparisons: [], comparisonsSkipped: [] });
    expect(derived.groups).toEqual(results.groups);
    expect(derived.comparisons).toEqual(results.comparisons);
    expect(derived.comparisonsSkipped).toEqual(results.comparisonsSkipped);
    expect(derived.comparisons).toHaveLength(2);
  });

  it('gives results.csv and summary.md byte for byte as they were written', () => {
    expect(resultsCsv(results)).toBe(written('results.csv'));
    expect(renderSummary(results)).toBe(written('summary.md'));
  });
});
