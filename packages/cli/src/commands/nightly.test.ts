import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResults } from '@headbench/results';
import { buildCli, headbench } from '../testing/cli.js';

// The nightly job's commands on a real (small) run: bench, report, compare, export.
let tmp: string;
let run: string;
beforeAll(async () => {
  buildCli();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-nightly-'));
  run = path.join(tmp, 'run');
  const r = await headbench(['run', '--dataset', 'synthetic', '--classes', '3', '--images-per-class', '8', '--input-size', '32', '--epochs', '2', '--batch-size', '8', '--backbone', 'mobilenetv2:alpha=0.35,weights=none', '--head', 'gap', '--head', 'flatten', '--lr', '0.01', '--out', run, '--quiet']);
  if (r.status !== 0) throw new Error(`the run for these tests failed: ${r.stderr}`);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const results = (): RunResults => JSON.parse(fs.readFileSync(path.join(run, 'results.json'), 'utf8')) as RunResults;

describe('headbench bench', () => {
  it('times train step and inference with tinybench and reports no leak', async () => {
    const r = await headbench(['bench', '--backbone', 'mobilenetv2:alpha=0.35', '--head', 'gap', '--input-size', '32', '--batch-size', '4', '--min-samples', '5', '--min-time', '0', '--format', 'json', '--quiet']);
    expect(r.errors).toEqual([]);
    expect(r.status).toBe(0);
    const { environment, rows } = JSON.parse(r.stdout) as { environment: { backend: string; accelerated: boolean }; rows: Record<string, never>[] };
    expect(environment).toMatchObject({ backend: 'tensorflow', accelerated: true });
    expect(rows).toHaveLength(1);
    const row = rows[0] as unknown as { train: { samples: number; latency: { p50: number; p99: number; rme: number }; tensors: { leakedPerCall: number } }; headTrain: { samples: number; tensors: { leakedPerCall: number } }; inferenceSingle: { samples: number }; multiplyAdds: number; params: { total: number; head: number } };
    expect(row.train.samples).toBeGreaterThanOrEqual(5);
    expect(row.train.latency.p99).toBeGreaterThanOrEqual(row.train.latency.p50);
    expect(row.train.tensors.leakedPerCall).toBe(0);
    expect(row.inferenceSingle.samples).toBeGreaterThanOrEqual(5);
    expect(row.params.total).toBe(416_613);
    // The head's own step, alone on features of the backbone's shape, beside the whole model's.
    expect(row.params.head).toBe(1280 * 5 + 5);
    expect(row.headTrain.samples).toBeGreaterThanOrEqual(5);
    expect(row.headTrain.tensors.leakedPerCall).toBe(0);
    expect(row.multiplyAdds).toBeGreaterThan(1e6);
  });

  it('reports achieved GFLOP/s and their share of the estimated peak', async () => {
    const args = ['bench', '--backbone', 'mobilenetv2:alpha=0.35,weights=none', '--head', 'gap', '--input-size', '32', '--batch-size', '4', '--min-samples', '3', '--min-time', '0', '--quiet'];
    const [json, md] = [await headbench([...args, '--format', 'json']), await headbench([...args, '--format', 'md'])];
    expect(json.status).toBe(0);
    type Timing = { latency: { p50: number } };
    const { peak, rows } = JSON.parse(json.stdout) as { peak: { gflops?: number; formula: string }; rows: { multiplyAdds: number; train: Timing; inference: Timing; gflops: { train: number; inference: number }; peakShare?: { inference: number } }[] };
    const row = rows[0]!;
    // 2 FLOPs per multiply-add, 4 images; the training step as three forward passes.
    expect(row.gflops.train).toBeCloseTo((2 * 3 * row.multiplyAdds * 4) / (row.train.latency.p50 * 1e6), 6);
    expect(row.gflops.inference).toBeCloseTo((2 * row.multiplyAdds * 4) / (row.inference.latency.p50 * 1e6), 6);
    if (peak.gflops) {
      expect(peak.formula).toMatch(/GHz x \d+ fp32 lanes/);
      expect(row.peakShare!.inference).toBeCloseTo(row.gflops.inference / peak.gflops, 9);
    } else {
      expect(peak.formula).toMatch(/^peak not estimated: /);
      expect(row.peakShare).toBeUndefined();
    }
    expect(md.status).toBe(0);
    expect(md.stdout).toMatch(/\| train GFLOP\/s \| train % peak \| infer GFLOP\/s \| infer % peak \|/);
    expect(md.stdout).toContain(`estimated peak: ${peak.formula}`);
  });
});

describe('headbench report', () => {
  it('writes the HTML page beside the results and prints the Markdown summary', async () => {
    const md = path.join(tmp, 'summary.md');
    const r = await headbench(['report', run, '--markdown', md]);
    expect(r.status).toBe(0);
    const html = fs.readFileSync(path.join(run, 'report.html'), 'utf8');
    // The forest plot, accuracy bars, four learning curves, accuracy against parameters, step times.
    expect(html.match(/<figure class="chart"/g)).toHaveLength(8);
    expect(html.indexOf('id="verdicts"')).toBeLessThan(html.indexOf('data-chart="accuracy"'));
    expect(html).toContain('data-series="[&quot;gap · lr 0.01&quot;,&quot;flatten · lr 0.01&quot;]"');
    expect(fs.readFileSync(md, 'utf8')).toMatch(/\| mobilenetv2:alpha=0\.35,weights=none \| gap/);
    expect(r.stdout).toContain(`report: ${path.join(run, 'report.html')}`);
  });
});

describe('headbench compare', () => {
  function variant(name: string, change: (r: RunResults) => void): string {
    const copy = results();
    change(copy);
    const file = path.join(tmp, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify(copy));
    return file;
  }

  it('passes the same results and fails a slowed-down step, naming it', async () => {
    const same = await headbench(['compare', run, run]);
    expect(same.status).toBe(0);
    expect(same.stdout).toContain('0 regressions, 0 improvements, 0 missing, 0 new');
    const slow = variant('slow', (r) => {
      const row = r.rows[0]!;
      row.stepTime = { ...row.stepTime!, samplesMs: row.stepTime!.samplesMs.map((v) => v * 3) };
    });
    const r = await headbench(['compare', run, slow]);
    expect(r.status).toBe(1);
    // Markdown escapes the id's pipes.
    expect(r.stdout).toMatch(/\| regression \| mobilenetv2:alpha=0\.35,weights=none\\\|gap\\\|lr=0\.01\\\|seed=1 +\| stepTime +\| median step/);
    expect(r.stdout).toContain('(+200.0%; threshold 10%');
  });

  it('compares accuracy per group over seeds and val images, paired by the per-image records', async () => {
    const r = await headbench(['compare', run, run, '--format', 'json']);
    const accuracy = (JSON.parse(r.stdout) as { metrics: { id: string; metric: string; verdict: string; reason: string }[] }).metrics.filter((m) => m.metric === 'accuracy');
    expect(accuracy.map((m) => [m.id, m.verdict])).toEqual([
      ['mobilenetv2:alpha=0.35,weights=none|gap|lr=0.01', 'unchanged'],
      ['mobilenetv2:alpha=0.35,weights=none|flatten|lr=0.01', 'unchanged'],
    ]);
    expect(accuracy[0]!.reason).toMatch(/over 1 seed and 12 images; one seed: seed noise not measured/);
  });

  it('fails on a missing combination and reports json', async () => {
    const fewer = variant('fewer', (r) => void r.rows.pop());
    const r = await headbench(['compare', run, fewer, '--format', 'json']);
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout).missing).toEqual([results().rows[1]!.id]);
  });
});

describe('headbench export --format gab', () => {
  it("writes github-action-benchmark's two custom files", async () => {
    const out = path.join(tmp, 'gab');
    const r = await headbench(['export', run, '--format', 'gab', '--out', out]);
    expect(r.status).toBe(0);
    const smaller = JSON.parse(fs.readFileSync(path.join(out, 'smaller-is-better.json'), 'utf8')) as { name: string; unit: string; value: number }[];
    const bigger = JSON.parse(fs.readFileSync(path.join(out, 'bigger-is-better.json'), 'utf8')) as { name: string; unit: string; value: number }[];
    expect(smaller.map((e) => e.unit)).toContain('ms');
    expect(smaller.every((e) => typeof e.value === 'number' && e.value > 0)).toBe(true);
    expect(bigger.some((e) => e.unit === 'accuracy')).toBe(true);
  });
});
