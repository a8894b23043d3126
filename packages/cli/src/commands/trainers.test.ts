import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResults } from '@headbench/results';
import { TRAINERS } from '../main.js';
import { BUILTINS } from '../builtins.js';
import { buildCli, headbench, packagesDir } from '../testing/cli.js';

let tmp: string;
beforeAll(() => {
  buildCli();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-trainers-'));
  // A user's project with a trainer of their own: one on a tfjs optimizer (no graph translation)
  // and one that names an engine rule (the graph step), from a config file and --plugin.
  fs.mkdirSync(path.join(tmp, 'node_modules/@headbench'), { recursive: true });
  for (const p of ['core', 'cli']) fs.symlinkSync(path.join(packagesDir, p), path.join(tmp, 'node_modules/@headbench', p), 'dir');
  fs.writeFileSync(path.join(tmp, 'adagrad.mjs'), [
    "import { defineTrainer, tf } from '@headbench/core';",
    'export default defineTrainer({',
    "  meta: { name: 'adagrad', version: '0.1.0' },",
    '  schema: {},',
    "  recipe: ({ lr, epochs }) => ({ stages: [{ epochs, train: 'all', optimizer: () => tf.train.adagrad(lr), learningRate: () => lr }] }),",
    '});',
  ].join('\n'));
  fs.writeFileSync(path.join(tmp, 'headbench.config.mjs'), [
    "import { defineTrainer } from '@headbench/core';",
    'const halving = defineTrainer({',
    "  meta: { name: 'halving', version: '0.1.0' },",
    "  schema: { every: { type: 'number', default: 1, integer: true, min: 1, description: 'steps between halvings' } },",
    "  recipe: ({ lr, epochs }, { every }) => ({ stages: [{ epochs, train: 'all', optimizer: { name: 'sgd', options: { momentum: 0.5 } }, learningRate: (step) => lr / 2 ** Math.floor(step / every) }] }),",
    '});',
    "export default { plugins: [halving], trainers: ['halving:every=2', { trainer: 'adam', lr: [0.001] }] };",
  ].join('\n'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const results = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as RunResults;
const SMALL = ['--dataset', 'synthetic', '--classes', '3', '--images-per-class', '8', '--input-size', '32', '--epochs', '2', '--batch-size', '8', '--backbone', 'mobilenetv2:alpha=0.35,weights=none', '--head', 'gap', '--no-bench', '--quiet'];

describe('the trainer axis', () => {
  it('lists the built-in trainers in --help as builtins.ts registers them', () => {
    const names = BUILTINS.map(([factory]) => factory()).filter((p) => p.meta.kind === 'trainer').map((p) => p.meta.name);
    expect(TRAINERS).toBe(names.join(', '));
  });

  it('crosses trainers with the other axes, each in the graph engine, and the table and rows say which', async () => {
    const out = path.join(tmp, 'two');
    const r = await headbench(['run', ...SMALL, '--trainer', 'adam:schedule=cosine,warmupEpochs=1', '--trainer', 'sgd:momentum=0.9,nesterov=true', '--lr', '0.01', '--out', out]);
    expect(r.errors).toEqual([]);
    expect(r.status).toBe(0);
    const rows = results(out).rows;
    expect(rows.map((row) => [row.id, row.trainer, row.engines?.train])).toEqual([
      ['mobilenetv2:alpha=0.35,weights=none|gap|lr=0.01|seed=1|trainer=adam:schedule=cosine,warmupEpochs=1', 'adam:schedule=cosine,warmupEpochs=1', { engine: 'graph' }],
      ['mobilenetv2:alpha=0.35,weights=none|gap|lr=0.01|seed=1|trainer=sgd:momentum=0.9,nesterov=true', 'sgd:momentum=0.9,nesterov=true', { engine: 'graph' }],
    ]);
    // Rows record every option of the trainer and its version, as of the backbone and the head.
    expect(rows[0]!.plugins.trainer).toBe('adam:beta1=0.9,beta2=0.999,epsilon=1e-7,weightDecay=0,schedule=cosine,warmupEpochs=1,stepEvery=0,stepRate=0.1,labelSmoothing=0,clipNorm=0,flip=false,zoom=0,freezeEpochs=0,finetuneLr=0@0.1.0');
    expect(rows[1]!.momentum).toBe(0.9);
    expect(rows.every((row) => row.status === 'ok' && row.tensors?.leaked === 0)).toBe(true);
    expect(r.stdout).toMatch(/\| backbone +\| head +\| trainer +\| +lr \|/);
    expect(r.stdout).toMatch(/\| gap +\| adam:schedule=cosine,warmupEpochs=1 +\| 0\.01 \|/);
  });

  it('keeps the ids of default sgd rows, and --momentum is sgd:momentum=<m>', async () => {
    const out = path.join(tmp, 'momentum');
    const r = await headbench(['run', ...SMALL, '--epochs', '1', '--momentum', '0.9', '--lr', '0.01', '--out', out]);
    expect(r.status).toBe(0);
    const [row] = results(out).rows;
    expect([row!.id, row!.trainer, row!.momentum]).toEqual(['mobilenetv2:alpha=0.35,weights=none|gap|lr=0.01|seed=1|trainer=sgd:momentum=0.9', 'sgd:momentum=0.9', 0.9]);
    const plain = path.join(tmp, 'plain');
    await headbench(['run', ...SMALL, '--epochs', '1', '--trainer', 'sgd:momentum=0', '--lr', '0.01', '--out', plain]);
    expect(results(plain).rows.map((x) => [x.id, x.trainer])).toEqual([['mobilenetv2:alpha=0.35,weights=none|gap|lr=0.01|seed=1', 'sgd']]);
  });

  it('trains the head alone first with freezeEpochs, and reports each stage', async () => {
    const out = path.join(tmp, 'freeze');
    const r = await headbench(['run', ...SMALL, '--epochs', '2', '--trainer', 'adam:freezeEpochs=1', '--lr', '0.001', '--out', out]);
    expect(r.status).toBe(0);
    const [row] = results(out).rows;
    expect(row!.engines?.stages).toEqual([{ engine: 'graph' }, { engine: 'graph' }]);
    expect(row!.stepTime?.stages?.map((s) => s.samples)).toEqual([2, 2]);
    expect(row!.history).toHaveLength(2);
  });

  it('loads trainers from the config file (with rates of their own) and --plugin; a tfjs optimizer runs eagerly and says why', async () => {
    const out = path.join(tmp, 'plugins');
    const r = await headbench(['run', ...SMALL, '--epochs', '1', '--lr', '0.01', '--out', out], tmp);
    expect(r.errors).toEqual([]);
    expect(results(out).rows.map((row) => [row.trainer, row.lr, row.engines?.train.engine])).toEqual([['halving:every=2', 0.01, 'graph'], ['adam', 0.01, 'graph']]);
    const own = path.join(tmp, 'own-rates');
    await headbench(['run', ...SMALL, '--epochs', '1', '--out', own], tmp);
    // Without --lr: the default preset's 0.1 and 0.01 for halving, adam's own 0.001.
    expect(results(own).rows.map((row) => [row.trainer, row.lr])).toEqual([['halving:every=2', 0.1], ['halving:every=2', 0.01], ['adam', 0.001]]);
    const eager = path.join(tmp, 'eager');
    const e = await headbench(['run', ...SMALL, '--epochs', '1', '--plugin', './adagrad.mjs', '--trainer', 'adagrad', '--lr', '0.01', '--out', eager], tmp);
    expect(e.status).toBe(0);
    expect(results(eager).rows[0]!.engines?.train).toEqual({ engine: 'eager', reason: "the trainer's optimizer is tfjs' Adagrad, which has no graph translation (give an OptimizerSpec of optimizerTranslators instead)" });
  });

  it('refuses an unknown trainer, a bad option and an impossible recipe before training, in one line', async () => {
    const cases = [
      [['--trainer', 'lamb'], 'headbench: unknown trainer "lamb"; known trainers: adam, adamw, rmsprop, sgd (load others with --plugin <package> or a headbench.config.js)'],
      [['--trainer', 'adam:beta1=2'], 'headbench: adam: option beta1=2 is out of range; expected a number >= 0 and <= 0.999999 (decay of the first-moment estimate (beta_1))'],
      [['--trainer', 'sgd', '--trainer', 'sgd:momentum=0'], 'headbench: the trainers include sgd twice (options at their defaults are left out of names)'],
      [['--trainer', 'adam:freezeEpochs=3'], "headbench: adam: freezeEpochs=3 is more than the run's 2 epochs; give --epochs at least 3 or fewer frozen epochs"],
      [['--trainer', 'sgd', '--momentum', '0.9'], "headbench: --momentum 0.9 is SGD's momentum, but --trainer names the trainers; write --trainer sgd:momentum=0.9 instead"],
    ] as const;
    const ran = await Promise.all(cases.map(([args]) => headbench(['run', ...SMALL, ...args, '--out', path.join(tmp, 'never')])));
    expect(ran.map((r) => [r.status, r.errors])).toEqual(cases.map(([, message]) => [2, [message]]));
    expect(fs.existsSync(path.join(tmp, 'never'))).toBe(false);
  });

  it('bench times each trainer\'s step; params says what its first stage trains', async () => {
    const bench = await headbench(['bench', '--backbone', 'mobilenetv2:alpha=0.35', '--head', 'gap', '--input-size', '32', '--batch-size', '4', '--trainer', 'sgd', '--trainer', 'adam', '--trainer', 'adamw:freezeEpochs=1', '--min-samples', '2', '--min-time', '0', '--format', 'json', '--quiet']);
    expect(bench.errors).toEqual([]);
    const rows = (JSON.parse(bench.stdout) as { rows: { trainer: string; trainEngine: { engine: string }; stage?: unknown; train: { samples: number } }[] }).rows;
    expect(rows.map((r) => [r.trainer, r.trainEngine.engine, r.stage ?? null])).toEqual([['sgd', 'graph', null], ['adam', 'graph', null], ['adamw:freezeEpochs=1', 'graph', { index: 2, of: 2, train: 'all' }]]);
    const params = await headbench(['params', '--backbone', 'mobilenetv2:alpha=0.35', '--head', 'gap', '--input-size', '32', '--classes', '5', '--trainer', 'adam', '--trainer', 'adam:freezeEpochs=1', '--format', 'json']);
    expect((JSON.parse(params.stdout) as { trainer: string; trainedFirst: number; params: { trainable: number } }[]).map((r) => [r.trainer, r.trainedFirst])).toEqual([['adam', 396_128 + 1280 * 5 + 5], ['adam:freezeEpochs=1', 1280 * 5 + 5]]);
  });
});
