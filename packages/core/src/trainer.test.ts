import { afterAll, describe, expect, it } from 'vitest';
import { composeModel } from './compose.js';
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

async function train(options: Partial<TrainOptions> = {}) {
  const { model } = await composeModel(tinyCnn(), gapHead(), { inputSize: 16, classes: 3, seed: 3 });
  const { train: t, val } = await dataset.load(16);
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
});
