import { afterAll, describe, expect, it } from 'vitest';
import { composeModel } from './compose.js';
import { syntheticDataset } from './data/synthetic.js';
import { defineBackbone, defineHead, defineTrainer } from './define.js';
import { UsageError } from './errors.js';
import { tf } from '@headbench/engine';
import type { TrainingStage } from './plugin.js';
import { fitModel, type TrainOptions } from './trainer.js';

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

async function train(options: Partial<TrainOptions> = {}, trainer = staged(), onModel?: (model: tf.LayersModel, backbone: tf.layers.Layer[]) => void) {
  const { model, backboneLayers } = await composeModel(tinyCnn(), gapHead(), { inputSize: 16, classes: 3, seed: 3 });
  onModel?.(model, backboneLayers);
  const { train: t, val } = await dataset.load(16);
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
});
