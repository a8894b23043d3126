import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { composeModel } from './compose.js';
import { imageFolderDataset, syntheticDataset, type ImageSplit } from '@headbench/data';
import { defineHead, defineTrainer } from './define.js';
import { UsageError } from '@headbench/errors';
import { tf } from '@headbench/engine';
import type { TrainingStage } from './plugin.js';
import { tinyCnn } from './tiny-cnn.fixtures.js';
import { fitModel, type TrainOptions } from './trainer.js';

const gapHead = defineHead({
  meta: { name: 'gap-test', version: '0.0.0' },
  schema: {},
  build: (features, { classes, seed }) =>
    tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(tf.layers.globalAveragePooling2d({}).apply(features)) as tf.SymbolicTensor,
});

/** A trainer of stages given outright; plain SGD at the combination's rate unless told otherwise. */
const staged = defineTrainer({
  meta: { name: 'staged', version: '0.0.0' },
  schema: { freeze: { type: 'number', default: 0, integer: true, description: 'epochs of a head stage first' }, eager: { type: 'boolean', default: false, description: "tfjs' own SGD" } },
  recipe: ({ lr, epochs }, { freeze, eager }) => {
    const optimizer: TrainingStage['optimizer'] = eager ? () => tf.train.sgd(lr) : { name: 'sgd' };
    const stage = (e: number, train: 'all' | 'head'): TrainingStage => ({ epochs: e, train, optimizer, learningRate: () => lr });
    return { stages: freeze > 0 ? [stage(freeze, 'head'), stage(epochs - freeze, 'all')] : [stage(epochs, 'all')] };
  },
});

const dataset = syntheticDataset({ classes: 3, trainPerClass: 20, valPerClass: 10, seed: 7 });
afterAll(() => dataset.dispose());

async function train(options: Partial<TrainOptions> = {}, trainer = staged(), onModel?: (model: tf.LayersModel, backbone: tf.layers.Layer[]) => void, splits?: { train: ImageSplit; val: ImageSplit }) {
  const { model, backboneLayers } = await composeModel(tinyCnn(), gapHead(), { inputSize: 16, classes: 3, seed: 3 });
  onModel?.(model, backboneLayers);
  const { train: t, val } = splits ?? (await dataset.load(16));
  const outcome = await fitModel(model, { train: t, val, classes: 3, preprocess: (x) => tinyCnn().preprocess(x), backboneLayers }, trainer, { lr: 0.1, epochs: 6, batchSize: 8, seed: 11, divergenceLoss: 1e3, ...options });
  model.dispose();
  return outcome;
}

describe('fitModel', () => {
  it('learns the synthetic classes, reporting per-epoch metrics and inference-mode train accuracy', async () => {
    const outcome = await train();
    expect(outcome.status).toBe('ok');
    expect(outcome.history.map((h) => h.epoch)).toEqual([1, 2, 3, 4, 5, 6]);
    const last = outcome.history.at(-1)!;
    expect(last.valAccuracy).toBeGreaterThan(0.8);
    expect(last.trainLoss).toBeLessThan(outcome.history[0]!.trainLoss);
    expect(outcome.trainInference!.accuracy).toBeGreaterThan(0.6);
    // 60 images in batches of 8: 7 full batches per epoch, 6 epochs, minus the cold first step.
    expect(outcome.stepMs.samples).toHaveLength(6 * 7 - 1);
  });

  it('does not grow the tensor count across steps and epochs', async () => {
    const outcome = await train({ epochs: 3 });
    expect(outcome.tensors.afterLastStep).toBe(outcome.tensors.afterFirstStep);
    expect(outcome.tensors.leaked).toBe(0);
  });

  it('gives identical metrics for the same seed', async () => {
    const a = await train({ epochs: 2 });
    const b = await train({ epochs: 2 });
    const strip = (o: typeof a) => o.history.map(({ seconds: _s, ...m }) => m);
    expect(strip(b)).toEqual(strip(a));
  });

  it('stops a diverging run and marks it', async () => {
    const outcome = await train({ lr: 1e4 });
    expect(outcome.status).toBe('diverged');
    expect(outcome.divergedAt!.epoch).toBe(1);
    expect(outcome.trainInference).toBeUndefined();
  });

  it('trains the head alone in a head stage, the backbone and its moving statistics fixed, then everything', async () => {
    let backbone: tf.layers.Layer[] = [];
    const epochs: number[][][] = [];
    let start: number[][] = [];
    const snapshot = () => backbone.flatMap((l) => l.weights).map((w) => Array.from(w.read().dataSync()));
    const outcome = await train({ epochs: 3, onProgress: (e) => void (e.type === 'epoch' && epochs.push(snapshot())) }, staged({ freeze: 2 }), (_m, layers) => {
      backbone = layers;
      start = snapshot();
    });
    expect(outcome.status).toBe('ok');
    expect(epochs[0]).toEqual(start);
    expect(epochs[1]).toEqual(start);
    expect(epochs[2]).not.toEqual(start);
    // The flags are put back after the stage.
    expect(backbone.every((l) => l.trainable)).toBe(true);
    // Each stage's first step compiles its own graph: 7 full batches a stage-epoch, minus one per stage.
    expect(outcome.stepMs.samples).toHaveLength(3 * 7 - 2);
    expect(outcome.stepMs.stages?.map((s) => s.length)).toEqual([2 * 7 - 1, 7 - 1]);
    expect(outcome.engines.stages).toEqual([{ engine: 'graph' }, { engine: 'graph' }]);
    expect(outcome.engines.train).toEqual({ engine: 'graph' });
    expect(outcome.tensors.leaked).toBe(0);
  });

  it("runs a tfjs optimizer on the eager step and says so", async () => {
    const outcome = await train({ epochs: 1 }, staged({ eager: true }));
    expect(outcome.status).toBe('ok');
    expect(outcome.engines.train).toEqual({ engine: 'eager', reason: "the trainer's optimizer is tfjs' SGD, which has no graph translation (give an OptimizerSpec of optimizerTranslators instead)" });
  });

  it('refuses a recipe that does not fit the run, naming the trainer', async () => {
    const bad = defineTrainer({ meta: { name: 'short', version: '0.0.0' }, schema: {}, recipe: ({ lr }) => ({ stages: [{ epochs: 2, train: 'all', optimizer: { name: 'sgd' }, learningRate: () => lr }] }) });
    await expect(train({ epochs: 3 }, bad())).rejects.toThrow(new UsageError('trainer short: its stages train 2 epochs (2) but the run has 3'));
    const noBackbone = defineTrainer({ meta: { name: 'frozen', version: '0.0.0' }, schema: {}, recipe: ({ lr, epochs }) => ({ stages: [{ epochs, train: 'head', optimizer: { name: 'sgd' }, learningRate: () => lr }] }) });
    const { model } = await composeModel(tinyCnn(), gapHead(), { inputSize: 16, classes: 3, seed: 3 });
    const { train: t, val } = await dataset.load(16);
    await expect(fitModel(model, { train: t, val, classes: 3, preprocess: (x) => x }, noBackbone(), { lr: 0.1, epochs: 1, batchSize: 8, seed: 1, divergenceLoss: 1e3 })).rejects.toThrow(
      'trainer frozen: stage 1 freezes the backbone, but this model has no backbone layers to freeze',
    );
    model.dispose();
  });

  it('gives the same epochs from a streamed split as from the same images in memory', async () => {
    // The synthetic images as PNG files, read back through the decode cache in both storages.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-stream-'));
    try {
      const { train: t } = await dataset.load(16);
      const pixels = await t.read(Int32Array.from({ length: t.count }, (_, i) => i));
      for (let i = 0; i < t.count; i++) {
        const dir = path.join(tmp, 'images', `class_${t.labels[i]}`);
        fs.mkdirSync(dir, { recursive: true });
        const image = tf.tensor3d(pixels.subarray(i * 768, (i + 1) * 768), [16, 16, 3], 'int32');
        fs.writeFileSync(path.join(dir, `${String(i).padStart(2, '0')}.png`), await tf.node.encodePng(image));
        image.dispose();
      }
      const open = (memoryBudget: number) => imageFolderDataset({ train: path.join(tmp, 'images'), valSplit: 0.25, seed: 5, cacheDir: path.join(tmp, 'cache'), memoryBudget });
      const [inMemory, streamed] = [open(1e9), open(0)];
      const m = await inMemory.load(16);
      const s = await streamed.load(16);
      expect([m.train.storage, s.train.storage, s.val.storage]).toEqual(['memory', 'stream', 'stream']);
      const a = await train({ epochs: 3 }, staged(), undefined, m);
      const b = await train({ epochs: 3 }, staged(), undefined, s);
      const strip = (o: typeof a) => o.history.map(({ seconds: _s, ...rest }) => rest);
      expect(strip(b)).toEqual(strip(a));
      expect(b.trainInference).toEqual(a.trainInference);
      expect(b.tensors.afterLastStep).toBe(b.tensors.afterFirstStep);
      // It learnt something, so equal histories are not equal nothing.
      expect(a.history.at(-1)!.valAccuracy).toBeGreaterThan(0.5);
      inMemory.dispose();
      streamed.dispose();
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('asks for batch k+1 before it runs step k', async () => {
    const { train: t, val } = await dataset.load(16);
    const log: string[] = [];
    const logged = (split: ImageSplit, name: string): ImageSplit => ({
      ...split,
      read: (indices, into) => {
        log.push(`read ${name}`);
        return split.read(indices, into);
      },
    });
    await train({ epochs: 1, onProgress: (e) => void (e.type === 'step' && log.push(`step ${e.step}`)) }, staged(), undefined, { train: logged(t, 'train'), val: logged(val, 'val') });
    // 60 images in batches of 8: 8 steps; before step k's end, k + 1 train batches were asked for.
    const steps = log.filter((l) => l.startsWith('step'));
    expect(steps).toHaveLength(8);
    for (let k = 1; k <= 8; k++) {
      const before = log.slice(0, log.indexOf(`step ${k}`)).filter((l) => l === 'read train').length;
      expect(before).toBe(Math.min(k + 1, 8));
    }
  });
});
