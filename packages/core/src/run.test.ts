import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { syntheticDataset } from '@headbench/data';
import { defineBackbone, defineHead, defineTrainer } from './define.js';
import { plan } from './planner.js';
import { PluginRegistry } from './registry.js';
import { mergeResults, readResults } from '@headbench/results';
import { runPlan, type RunOptions } from './run.js';
import { tf } from '@headbench/engine';
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
const gapBuild = (f: tf.SymbolicTensor, { classes, seed }: { classes: number; seed: number }) =>
  tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(tf.layers.globalAveragePooling2d({}).apply(f)) as tf.SymbolicTensor;
const gap = defineHead({ meta: { name: 'gap', version: '0.0.0' }, schema: {}, build: gapBuild });
/** gap under another name: the same weights and predictions for every seed. */
const other = defineHead({ meta: { name: 'other', version: '0.0.0' }, schema: {}, build: gapBuild });
/** A head whose build throws, as a buggy plugin would. */
const broken = defineHead({
  meta: { name: 'broken', version: '0.0.0' },
  schema: {},
  build: () => {
    throw new Error('this head is broken on purpose');
  },
});

const sgd = defineTrainer({
  meta: { name: 'sgd', version: '0.0.0' },
  schema: {},
  recipe: ({ lr, epochs }) => ({ stages: [{ epochs, train: 'all', optimizer: { name: 'sgd' }, learningRate: () => lr }] }),
});

const dataset = syntheticDataset({ classes: 2, trainPerClass: 8, valPerClass: 4, seed: 1 });
afterAll(() => dataset.dispose());
let out: string;
beforeEach(() => {
  out = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-run-'));
});

/** The plan record of some combinations, keyed as the CLI's flags. */
function planOf(combinations: RunOptions['combinations']): Record<string, unknown> {
  const axis = (key: 'backbone' | 'head' | 'lr' | 'seed') => [...new Set(combinations.map((c) => c[key]))];
  return { backbone: axis('backbone'), head: axis('head'), lr: axis('lr'), seed: axis('seed'), shard: null };
}

function options(overrides: Partial<RunOptions> = {}): RunOptions {
  const registry = new PluginRegistry();
  for (const f of [pixels, gap, broken, sgd]) registry.register(f, 'test');
  const combinations = overrides.combinations ?? plan({ backbones: ['pixels'], heads: ['gap', 'broken'], learningRates: [0.1], seeds: [1, 2] });
  return {
    combinations,
    registry,
    dataset,
    outDir: out,
    mode: 'new',
    config: { test: true },
    plan: planOf(combinations),
    inputSize: 8,
    epochs: 2,
    batchSize: 4,
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
    expect(fs.readFileSync(path.join(out, 'results.csv'), 'utf8').split('\n')[0]).toMatch(/^backbone,head,trainer,lr,seed,paramsTotal,paramsHead,finalValAccuracy/);
    // Two seeds per group: the summary is the group table; broken's rows are left out as errors.
    const summary = fs.readFileSync(path.join(out, 'summary.md'), 'utf8');
    expect(summary).toMatch(/\| pixels +\| gap +\| sgd +\| +0\.1 \| 1 2 +\| \d\.\d{3} ± \d\.\d{3} \(2\)/);
    expect(summary).toMatch(/\| pixels +\| broken +\| sgd +\| +0\.1 \|  +\| +\|.*seed=1 error, seed=2 error/);
    expect(results.groups!.map((g) => [g.id, g.rows.length, g.seeds])).toEqual([['pixels|gap|lr=0.1', 2, [1, 2]], ['pixels|broken|lr=0.1', 2, []]]);
    expect(results.comparisonsSkipped).toEqual([expect.objectContaining({ candidate: 'broken', reason: 'no seed finished on both sides with a val accuracy' })]);
  });

  it('groups seeds, compares each head with the baseline per lr and at its best lr on the test split', async () => {
    const data = syntheticDataset({ classes: 2, trainPerClass: 8, valPerClass: 6, testPerClass: 5, seed: 1 });
    try {
      const results = await runPlan(
        options({
          dataset: data,
          combinations: plan({ backbones: ['pixels'], heads: ['gap', 'other'], learningRates: [0.1, 0.01], seeds: [1, 2, 3] }),
          registry: (() => {
            const r = new PluginRegistry();
            for (const f of [pixels, gap, other, sgd]) r.register(f, 'test');
            return r;
          })(),
          config: { baseline: 'gap' },
        }),
      );
      const row = results.rows[0]!;
      expect(row.testImages).toBe(10);
      expect(row.perImage?.val).toMatchObject({ images: 12, fingerprint: expect.stringMatching(/^sha256:/) });
      expect(row.perImage?.test?.images).toBe(10);
      // The per-image record agrees with the accuracies.
      const ones = (b64: string, n: number) => [...Buffer.from(b64, 'base64')].reduce((s, byte, i) => s + [...Array(8).keys()].filter((k) => i * 8 + k < n && (byte >> k) & 1).length, 0);
      expect(ones(row.perImage!.val!.correct, 12) / 12).toBeCloseTo(row.finalValAccuracy!, 10);
      expect(ones(row.perImage!.test!.correct, 10) / 10).toBeCloseTo(row.testAccuracy!, 10);

      expect(results.groups!.map((g) => g.id)).toEqual(['pixels|gap|lr=0.1', 'pixels|gap|lr=0.01', 'pixels|other|lr=0.1', 'pixels|other|lr=0.01']);
      const g = results.groups![0]!;
      const accs = results.rows.filter((r) => r.head === 'gap' && r.lr === 0.1).map((r) => r.finalValAccuracy!);
      expect(g.metrics.finalValAccuracy!.mean).toBeCloseTo(accs.reduce((s, v) => s + v, 0) / 3, 12);
      expect(g.metrics.testAccuracy!.n).toBe(3);

      // 'other' is gap under another name: same seeds, same weights, same predictions.
      const perLr = results.comparisons!.filter((c) => c.selection === 'per-lr');
      expect(perLr.map((c) => [c.candidate, c.baseline, c.lr, c.split, c.seeds, c.difference, c.verdict])).toEqual([
        ['other', 'gap', 0.1, 'val', 3, 0, 'no difference detected'],
        ['other', 'gap', 0.01, 'val', 3, 0, 'no difference detected'],
      ]);
      const best = results.comparisons!.find((c) => c.selection === 'best-lr')!;
      expect(best).toMatchObject({ split: 'test', images: 10, seeds: 3, baselineLr: best.candidateLr });
      expect(best.optimistic).toBeUndefined();

      const summary = fs.readFileSync(path.join(out, 'summary.md'), 'utf8');
      expect(summary).toContain('### Groups over seeds');
      expect(summary).toContain('### Is it better than gap?');
      expect(summary).toContain('### Each head at its best lr');
      expect(summary).toContain('the verdict is on the test split');
      const csv = fs.readFileSync(path.join(out, 'results.csv'), 'utf8').split('\n');
      expect(csv[0]).toContain('group,groupSeeds,group_finalValAccuracy_mean,group_finalValAccuracy_sd,group_finalValAccuracy_ci95_low');
      expect(csv[1]).toContain('pixels|gap|lr=0.1,3,');
    } finally {
      data.dispose();
    }
  });

  it('keeps every row: extends with other combinations, resumes a recorded plan, reruns errors, refuses other settings', async () => {
    const seen: string[] = [];
    const first = options({ combinations: plan({ backbones: ['pixels'], heads: ['gap'], learningRates: [0.1], seeds: [1] }) });
    await runPlan(first);
    const file = path.join(out, 'results.json');
    const written = fs.readFileSync(file, 'utf8');
    await expect(runPlan(options())).rejects.toThrow(/already exists: continue that run with --resume, add combinations to it with --extend/);
    // Another plan is not a resume; the file is as it was.
    await expect(runPlan(options({ mode: 'resume' }))).rejects.toThrow(/holds another plan \(--head: was gap; now gap, broken \| --seed: was 1; now 1, 2\); add these combinations to its 1 row with --extend/);
    expect(fs.readFileSync(file, 'utf8')).toBe(written);
    const extended = await runPlan(options({ mode: 'extend', onEvent: (e) => e.type === 'combination' && seen.push(e.combination.id) }));
    expect(seen).toEqual(['pixels|gap|lr=0.1|seed=2', 'pixels|broken|lr=0.1|seed=1', 'pixels|broken|lr=0.1|seed=2']);
    expect(extended.rows.map((r) => r.id)).toEqual(options().combinations.map((c) => c.id));
    expect(extended.rows[0]).toEqual(readResults(path.join(out, 'results.json')).rows[0]);
    expect(extended.runs!.map((r) => [r.mode, r.trained.length])).toEqual([['new', 1], ['extend', 3]]);
    // Resuming the extended plan retries its two error rows in place.
    seen.length = 0;
    const resumed = await runPlan(options({ mode: 'resume', onEvent: (e) => e.type === 'combination' && seen.push(e.combination.id) }));
    expect(seen).toEqual(['pixels|broken|lr=0.1|seed=1', 'pixels|broken|lr=0.1|seed=2']);
    expect(resumed.rows.map((r) => `${r.head}/${r.seed}:${r.status}`)).toEqual(['gap/1:ok', 'gap/2:ok', 'broken/1:error', 'broken/2:error']);
    await expect(runPlan(options({ mode: 'extend', config: { test: false } }))).rejects.toThrow(/--extend: .* was written with other settings \(--test: was on; now off\)/);
    expect(fs.readdirSync(out).sort()).toEqual(['results.csv', 'results.json', 'summary.md']);
  });

  it('keeps the rows written before a filesystem error, exits 1 and says how to continue', async () => {
    const calls: string[] = [];
    // The second write of results.json meets a folder where the file should be.
    const results = runPlan(
      options({
        onEvent: (e) => {
          if (e.type === 'row') calls.push(e.row.id);
          if (e.type === 'row' && calls.length === 1) {
            fs.renameSync(path.join(out, 'results.json'), path.join(out, 'first.json'));
            fs.mkdirSync(path.join(out, 'results.json'));
          }
        },
      }),
    );
    const error = await results.then(() => undefined, (e: unknown) => e as { message: string; exitCode: number; name: string });
    expect(error).toMatchObject({ name: 'UsageError', exitCode: 1 });
    expect(error!.message).toBe(
      `cannot write ${path.join(out, 'results.json')}: illegal operation on a directory (EISDIR); a folder is in the way where a file is needed: move it or choose another name; ` +
        `the 1 combination this run finished is kept in ${path.join(out, 'results.json')} (1 row in all); once that is fixed, continue with --resume --out ${out}`,
    );
    expect(fs.readdirSync(out).filter((f) => f.endsWith('.tmp') || f === 'headbench.lock')).toEqual([]);
  });

  it('runs shards whose merge equals the whole plan', async () => {
    const all = options().combinations;
    const parts: { file: string; results: Awaited<ReturnType<typeof runPlan>> }[] = [];
    for (const i of [1, 2]) {
      const dir = path.join(out, `shard-${i}`);
      const combinations = shardOf(all, parseShard(`${i}/2`));
      const results = await runPlan(options({ combinations, outDir: dir, plan: { ...planOf(all), shard: `${i}/2` } }));
      parts.push({ file: path.join(dir, 'results.json'), results });
    }
    const merged = mergeResults(parts);
    expect(merged.rows.map((r) => r.id).sort()).toEqual(all.map((c) => c.id).sort());
    expect(merged.runs!.map((r) => r.plan['shard'])).toEqual(['1/2', '2/2']);
    const tampered = { ...parts[0]!, results: { ...parts[0]!.results, rows: parts[0]!.results.rows.map((r) => ({ ...r, finalValAccuracy: 0.123 })) } };
    expect(() => mergeResults([...parts, { ...tampered, file: 'again.json' }])).toThrow(/is in both .* with different results/);
    const other = { file: 'other.json', results: { ...parts[1]!.results, config: { test: true, epochs: 3 } } };
    expect(() => mergeResults([parts[0]!, other])).toThrow(`other.json and ${parts[0]!.file} were run with other settings (--epochs: not recorded in ${parts[0]!.file}; 3 in other.json); merge only results of the same settings`);
  });
});
