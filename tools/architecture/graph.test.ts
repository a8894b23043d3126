import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { circles, dependsOn, fileGraph, linesPerPackage, packageGraph } from './graph.mjs';

// The import graph is the architecture (README, "Layout"): engine, errors, stats and data at the
// bottom; results beside them; core's contracts and loops above; plugins beside each other; report
// and the CLI on top. These are the rules a change must keep.
describe('the packages', () => {
  it('depend on each other without a circle, and no source file imports itself round a circle', () => {
    expect(circles(packageGraph())).toEqual([]);
    expect(circles(fileGraph())).toEqual([]);
  });

  it('keep data, stats, errors, results and the engine below core, and plugins apart', () => {
    for (const low of ['engine', 'errors', 'stats', 'data', 'results']) expect(dependsOn(`@headbench/${low}`, '@headbench/core'), low).toBe(false);
    expect(dependsOn('@headbench/stats', '@headbench/data')).toBe(false);
    expect(dependsOn('@headbench/stats', '@headbench/engine')).toBe(false);
    // Every head package, so a new one is held to the rule without editing this list.
    const heads = readdirSync(new URL('../../packages', import.meta.url)).filter((d) => d.startsWith('heads-'));
    expect(heads.length).toBeGreaterThanOrEqual(11);
    const plugins = ['backbones', ...heads, 'trainers'].map((p) => `@headbench/${p}`);
    for (const a of plugins) for (const b of plugins) if (a !== b) expect(dependsOn(a, b), `${a} -> ${b}`).toBe(false);
  });

  it('keep core to what a benchmark is (at most 2,500 non-test lines): new jobs go in packages of their own', () => {
    const core = linesPerPackage().find((p) => p.name === '@headbench/core');
    expect(core?.lines).toBeGreaterThan(0);
    expect(core?.lines).toBeLessThanOrEqual(2500);
  });
});

describe('the circle finder', () => {
  it('finds the circle core had before the split, type imports included', () => {
    const graph = new Map([
      ['bench.ts', ['stats/index.ts']],
      ['stats/index.ts', ['stats/comparisons.ts']],
      ['stats/comparisons.ts', ['results.ts']],
      ['results.ts', ['bench.ts']],
      ['run.ts', ['results.ts']],
    ]);
    expect(circles(graph)).toEqual([['bench.ts', 'results.ts', 'stats/comparisons.ts', 'stats/index.ts']]);
    expect(circles(new Map([['a.ts', ['a.ts']]]))).toEqual([['a.ts']]);
  });
});
