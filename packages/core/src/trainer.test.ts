import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { composeModel } from './compose.js';
import type { ImageSplit } from './data/dataset.js';
import { imageFolderDataset } from './data/image-folder.js';
import { syntheticDataset } from './data/synthetic.js';
import { defineBackbone, defineHead } from './define.js';
import { tf } from '@headbench/engine';
import { sgdTrainer, type TrainOptions } from './trainer.js';

// A small real CNN, so the trainer is tested on convolutions, BatchNorm and a real head.
const tinyCnn = defineBackbone({
  meta: { name: 'tiny-cnn', version: '0.0.0' },
  schema: {},
  featureShape: (size) => [size / 4, size / 4, 8],
  preprocess: (images) => tf.tidy(() => images.div(127.5).sub(1)),
  async build({ inputSize, seed }) {
    const input = tf.input({ shape: [inputSize, inputSize, 3] });
    let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ epsilon: 1e-3, momentum: 0.9 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ maxValue: 6 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ maxValue: 6 }).apply(x) as tf.SymbolicTensor;
    return { model: tf.model({ inputs: input, outputs: x }), featureShape: [inputSize / 4, inputSize / 4, 8], weights: 'random' };
  },
});
const gapHead = defineHead({
  meta: { name: 'gap-test', version: '0.0.0' },
  schema: {},
  build: (features, { classes, seed }) =>
    tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(tf.layers.globalAveragePooling2d({}).apply(features)) as tf.SymbolicTensor,
});

const dataset = syntheticDataset({ classes: 3, trainPerClass: 20, valPerClass: 10, seed: 7 });
afterAll(() => dataset.dispose());

async function train(options: Partial<TrainOptions> = {}, splits?: { train: ImageSplit; val: ImageSplit }) {
  const { model } = await composeModel(tinyCnn(), gapHead(), { inputSize: 16, classes: 3, seed: 3 });
  const { train: t, val } = splits ?? (await dataset.load(16));
  const outcome = await sgdTrainer().fit(
    model,
    { train: t, val, classes: 3, preprocess: (x) => tinyCnn().preprocess(x) },
    { lr: 0.1, momentum: 0, epochs: 6, batchSize: 8, seed: 11, divergenceLoss: 1e3, ...options },
  );
  model.dispose();
  return outcome;
}

describe('sgdTrainer', () => {
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
  });

  it('gives identical metrics for the same seed', async () => {
    const a = await train({ epochs: 2 });
    const b = await train({ epochs: 2 });
    const strip = (o: typeof a) => o.history.map(({ seconds: _s, ...m }) => m);
    expect(strip(b)).toEqual(strip(a));
  });

  it('stops a diverging run and marks it', async () => {
    const outcome = await train({ lr: 1e4, momentum: 0 });
    expect(outcome.status).toBe('diverged');
    expect(outcome.divergedAt!.epoch).toBe(1);
    expect(outcome.trainInference).toBeUndefined();
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
      const a = await train({ epochs: 3 }, m);
      const b = await train({ epochs: 3 }, s);
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
    await train({ epochs: 1, onProgress: (e) => void (e.type === 'step' && log.push(`step ${e.step}`)) }, { train: logged(t, 'train'), val: logged(val, 'val') });
    // 60 images in batches of 8: 8 steps; before step k's end, k + 1 train batches were asked for.
    const steps = log.filter((l) => l.startsWith('step'));
    expect(steps).toHaveLength(8);
    for (let k = 1; k <= 8; k++) {
      const before = log.slice(0, log.indexOf(`step ${k}`)).filter((l) => l === 'read train').length;
      expect(before).toBe(Math.min(k + 1, 8));
    }
  });
});
