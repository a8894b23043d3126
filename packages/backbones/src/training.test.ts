import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { composeModel, defineHead, tf } from '@headbench/core';
import { createTrainStep, sgdConfig } from '@headbench/engine';
import { mobilenetv2 } from './mobilenetv2.js';
import { H5_FIXTURE_DIR } from './testing/fixtures.js';

// Keras' seeded alpha 0.35 weights with random BatchNorm statistics: with weights=none the
// features of an untrained base are almost all zero, and a frozen base would teach the head nothing.
const WEIGHTS = path.join(H5_FIXTURE_DIR, 'weights.h5');

const gap = defineHead({
  meta: { name: 'gap', version: '0.0.0' },
  schema: {},
  build: (features, { classes, seed }) =>
    tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(tf.layers.globalAveragePooling2d({}).apply(features)) as tf.SymbolicTensor,
});

async function trainer(trainable: boolean) {
  const { model, backbone } = await composeModel(mobilenetv2({ alpha: 0.35, weights: WEIGHTS, trainable }), gap(), { inputSize: 64, classes: 3, seed: 1 });
  model.compile({ optimizer: tf.train.sgd(0.01), loss: tf.losses.softmaxCrossEntropy });
  const x = tf.randomUniform([4, 64, 64, 3], -1, 1, 'float32', 1);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3);
  const step = () => model.trainOnBatch(x, y);
  const base = () => backbone.model.weights.map((w) => w.read().dataSync().slice());
  const dispose = () => {
    tf.dispose([x, y]);
    model.optimizer.dispose();
    model.dispose();
  };
  return { model, step, base, dispose };
}

describe('training through the backbone', () => {
  it.each([true, false])('trainable=%s: a step does not grow the tensor count after warm-up', async (trainable) => {
    const { step, dispose } = await trainer(trainable);
    await step();
    await step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      await step();
      expect(tf.memory().numTensors).toBe(before);
    }
    dispose();
  });

  it('a frozen base keeps every weight, BatchNorm moving statistics included, as in Keras', async () => {
    const { model, step, base, dispose } = await trainer(false);
    const dense = model.layers[model.layers.length - 1];
    const headBefore = dense?.getWeights()[0]?.dataSync().slice();
    const before = base();
    await step();
    expect(base()).toEqual(before);
    expect(dense?.getWeights()[0]?.dataSync()).not.toEqual(headBefore);
    dispose();
  });

  it("headbench's training graph keeps a frozen base too, and trains the head", async () => {
    const { model, base, dispose } = await trainer(false);
    const dense = model.layers[model.layers.length - 1];
    const headBefore = dense?.getWeights()[0]?.dataSync().slice();
    const before = base();
    const stepConfig = sgdConfig(0.1, 0);
    const step = createTrainStep(model, stepConfig, 3);
    const x = tf.randomUniform([4, 64, 64, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
    const y = tf.tensor1d([0, 1, 2, 1], 'int32');
    await step(x, y);
    expect(step.engine).toEqual({ engine: 'graph' });
    expect(base()).toEqual(before);
    expect(dense?.getWeights()[0]?.dataSync()).not.toEqual(headBefore);
    step.dispose();
    tf.dispose([x, y]);
    dispose();
  });

  it('a trainable base updates its weights and its BatchNorm moving statistics', async () => {
    const { model, step, dispose } = await trainer(true);
    const read = (name: string) => model.getLayer('bn_Conv1').weights.find((w) => w.originalName.endsWith(name))?.read().dataSync().slice();
    const [gamma, movingMean] = [read('gamma'), read('moving_mean')];
    await step();
    expect(read('gamma')).not.toEqual(gamma);
    expect(read('moving_mean')).not.toEqual(movingMean);
    dispose();
  });
});
