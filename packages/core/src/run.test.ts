import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { syntheticDataset } from './data/synthetic.js';
import { defineBackbone, defineHead } from './define.js';
import { plan } from './planner.js';
import { PluginRegistry } from './registry.js';
import { mergeResults, readResults } from './results.js';
import { runPlan, type RunOptions } from './run.js';
import { tf } from '@headbench/engine';
import { sgdTrainer } from './trainer.js';
import { parseShard, shardOf } from './planner.js';

const pixels = defineBackbone({
  meta: { name: 'pixels', version: '0.0.0' },
  schema: {},
  featureShape: (s) => [s / 2, s / 2, 4],
  preprocess: (x) => tf.tidy(() => x.div(127.5).sub(1)),
  async build({ inputSize, seed }) {
    const input = tf.input({ shape: [inputSize, inputSize, 3] });
    const out = tf.layers.conv2d({ filters: 4, kernelSize: 2, strides: 2, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(input) as tf.SymbolicTensor;
    return { model: tf.model({ inputs: input, outputs: out }), featureShape: [inputSize / 2, inputSize / 2, 4], weights: 'random' };
  },
});
const gap = defineHead({
  meta: { name: 'gap', version: '0.0.0' },
  schema: {},
  build: (f, { classes, seed }) =>
    tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(tf.layers.globalAveragePooling2d({}).apply(f)) as tf.SymbolicTensor,
});
/** A head whose build throws, as a buggy plugin would. */
const broken = defineHead({
  meta: { name: 'broken', version: '0.0.0' },
  schema: {},
  build: () => {
    throw new Error('this head is broken on purpose');
  },
});

const dataset = syntheticDataset({ classes: 2, trainPerClass: 8, valPerClass: 4, seed: 1 });
afterAll(() => dataset.dispose());
let out: string;
beforeEach(() => {
  out = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-run-'));
});

function options(overrides: Partial<RunOptions> = {}): RunOptions {
  const registry = new PluginRegistry();
  for (const f of [pixels, gap, broken]) registry.register(f, 'test');
  return {
    combinations: plan({ backbones: ['pixels'], heads: ['gap', 'broken'], learningRates: [0.1], seeds: [1, 2] }),
    registry,
    dataset,
    trainer: sgdTrainer(),
    outDir: out,
    resume: false,
    config: { test: true },
    inputSize: 8,
    epochs: 2,
    batchSize: 4,
    momentum: 0,
    divergenceLoss: 1e3,
    ...overrides,
  };
}

describe('runPlan', () => {
  it('turns a failing plugin into an error row and goes on, writing json, csv and markdown', async () => {
    const results = await runPlan(options());
    expect(results.rows.map((r) => `${r.head}/${r.seed}:${r.status}`)).toEqual(['gap/1:ok', 'gap/2:ok', 'broken/1:error', 'broken/2:error']);
    expect(results.rows[2]!.error).toBe('this head is broken on purpose');
    const ok = results.rows[0]!;
    expect(ok.history).toHaveLength(2);
    expect(ok.params).toEqual({ total: 4 * 12 + 4 + 4 * 2 + 2, trainable: 62, nonTrainable: 0, head: 10 });
    expect(ok.stepTime!.samples).toBe(2 * 4 - 1);
    expect(ok.tensors!.leaked).toBe(0);
    expect(readResults(path.join(out, 'results.json')).rows).toHaveLength(4);
    expect(fs.readFileSync(path.join(out, 'results.csv'), 'utf8').split('\n')[0]).toMatch(/^backbone,head,lr,seed,paramsTotal,paramsHead,finalValAccuracy/);
    expect(fs.readFileSync(path.join(out, 'summary.md'), 'utf8')).toMatch(/\| pixels +\| broken +\| +0\.1 \| +1 \|/);
  });

  it('keeps finished rows when resumed, reruns errors and refuses other settings', async () => {
    const seen: string[] = [];
    const first = options({ combinations: plan({ backbones: ['pixels'], heads: ['gap'], learningRates: [0.1], seeds: [1] }) });
    await runPlan(first);
    await expect(runPlan(options())).rejects.toThrow(/already exists: pass --resume/);
    const resumed = await runPlan(options({ resume: true, onEvent: (e) => e.type === 'combination' && seen.push(e.combination.id) }));
    expect(seen).toEqual(['pixels|gap|lr=0.1|seed=2', 'pixels|broken|lr=0.1|seed=1', 'pixels|broken|lr=0.1|seed=2']);
    expect(resumed.rows.map((r) => r.id)).toEqual(options().combinations.map((c) => c.id));
    await expect(runPlan(options({ resume: true, config: { test: false } }))).rejects.toThrow(/was written with other settings/);
  });

  it('runs shards whose merge equals the whole plan', async () => {
    const all = options().combinations;
    const parts: { file: string; results: Awaited<ReturnType<typeof runPlan>> }[] = [];
    for (const i of [1, 2]) {
      const dir = path.join(out, `shard-${i}`);
      const results = await runPlan(options({ combinations: shardOf(all, parseShard(`${i}/2`)), outDir: dir }));
      parts.push({ file: path.join(dir, 'results.json'), results });
    }
    const merged = mergeResults(parts);
    expect(merged.rows.map((r) => r.id).sort()).toEqual(all.map((c) => c.id).sort());
    const tampered = { ...parts[0]!, results: { ...parts[0]!.results, rows: parts[0]!.results.rows.map((r) => ({ ...r, finalValAccuracy: 0.123 })) } };
    expect(() => mergeResults([...parts, { ...tampered, file: 'again.json' }])).toThrow(/is in both .* with different results/);
  });
});
