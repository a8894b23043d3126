import { afterAll, describe, expect, it } from 'vitest';
import { syntheticDataset } from '@headbench/data';
import { tf } from '@headbench/engine';
import { composeModel } from './compose.js';
import { defineHead, defineTrainer } from './define.js';
import { FeatureCache, headOnly } from './features.js';
import type { TrainingStage } from './plugin.js';
import { tinyCnn } from './tiny-cnn.fixtures.js';
import { fitModel, type FeatureSource, type TrainOutcome } from './trainer.js';

// tinyCnn's BatchNorm, frozen, runs on its moving statistics.
// Flatten + Dense: every feature value reaches the logits.
const flattenHead = defineHead({
  meta: { name: 'flatten-test', version: '0.0.0' },
  schema: {},
  build: (features, { classes, seed }) => tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(tf.layers.flatten({}).apply(features)) as tf.SymbolicTensor,
});

const staged = defineTrainer({
  meta: { name: 'staged', version: '0.0.0' },
  schema: { freeze: { type: 'number', default: 0, integer: true, description: 'epochs of a head stage first' }, flip: { type: 'boolean', default: false, description: 'random flips' } },
  recipe: ({ lr, epochs }, { freeze, flip }) => {
    const stage = (e: number, train: 'all' | 'head'): TrainingStage => ({ epochs: e, train, optimizer: { name: 'sgd', options: { momentum: 0.9 } }, learningRate: () => lr });
    return { stages: freeze > 0 ? [stage(freeze, 'head'), stage(epochs - freeze, 'all')] : [stage(epochs, 'all')], ...(flip ? { augment: { flip: true } } : {}) };
  },
});

const dataset = syntheticDataset({ classes: 3, trainPerClass: 20, valPerClass: 10, testPerClass: 5, seed: 7 });
afterAll(() => dataset.dispose());

/** Trains tiny-cnn + flatten on the synthetic images, with the feature cache or without it. */
async function train(withFeatures: boolean, { trainable = false, freeze = 0, flip = false } = {}): Promise<{ outcome: TrainOutcome; weights: number[] }> {
  const backbone = tinyCnn();
  const head = flattenHead();
  const composed = await composeModel(backbone, head, { inputSize: 16, classes: 3, seed: 3 });
  if (!trainable) for (const layer of composed.backboneLayers) layer.trainable = false;
  const { train: t, val, test } = await dataset.load(16);
  const cache = new FeatureCache({ batchSize: 7 });
  const features: FeatureSource = withFeatures
    ? {
        load: async () => ({
          head: headOnly(composed.model, composed.backboneLayers, head, { classes: 3, featureShape: composed.featureShape, seed: 3 }),
          splits: await cache.splits({ plugin: backbone, backboneName: 'tiny-cnn', model: composed.backbone.model, featureShape: composed.featureShape, inputSize: 16, splits: { train: t, val, ...(test ? { test } : {}) } }),
        }),
      }
    : { off: 'off in this test', load: () => Promise.reject(new Error('off')) };
  const outcome = await fitModel(
    composed.model,
    { train: t, val, ...(test ? { test } : {}), classes: 3, preprocess: (x) => backbone.preprocess(x), backboneLayers: composed.backboneLayers, features },
    staged({ freeze, flip }),
    { lr: 0.05, epochs: 4, batchSize: 8, seed: 11, divergenceLoss: 1e3 },
  );
  // The trained head's weights are in the whole model, whichever path trained it.
  const weights = Array.from(tf.tidy(() => tf.concat(composed.model.layers.at(-1)!.getWeights().map((w) => w.flatten()))).dataSync());
  cache.dispose();
  composed.model.dispose();
  return { outcome, weights };
}

const accuracies = (o: TrainOutcome) => o.history.map((h) => h.valAccuracy);

describe('training on cached features', () => {
  it('a frozen backbone: the head alone on its features gives the epochs, per-image results and weights of the whole model, and grows no tensors', async () => {
    const full = await train(false);
    const cached = await train(true);
    expect(full.outcome.path).toEqual({ path: 'images', reason: 'off in this test' });
    expect(cached.outcome.path.path).toBe('features');
    expect(cached.outcome.path.reason).toBe('the backbone is frozen and the images are not augmented: the head trained on its cached features');
    expect(cached.outcome.path.features).toMatchObject({ storage: 'memory', computed: true });
    expect(accuracies(cached.outcome)).toEqual(accuracies(full.outcome));
    expect(Buffer.from(cached.outcome.valCorrect!).equals(Buffer.from(full.outcome.valCorrect!))).toBe(true);
    expect(Buffer.from(cached.outcome.test!.correct).equals(Buffer.from(full.outcome.test!.correct))).toBe(true);
    for (const [a, b] of cached.outcome.history.map((h, i) => [h.valLoss, full.outcome.history[i]!.valLoss])) expect(a).toBeCloseTo(b!, 4);
    cached.weights.forEach((w, i) => expect(w).toBeCloseTo(full.weights[i]!, 4));
    expect(cached.outcome.tensors.leaked).toBe(0);
    expect(cached.outcome.engines.train.engine).toBe('graph');
    // The same steps are timed on either path.
    expect(cached.outcome.stepMs.samples.length).toBe(full.outcome.stepMs.samples.length);
  });

  it('freeze then finetune: the frozen stage on features, the full one on images, the same numbers as all on images', async () => {
    const full = await train(false, { trainable: true, freeze: 2 });
    const mixed = await train(true, { trainable: true, freeze: 2 });
    expect(mixed.outcome.path.path).toBe('mixed');
    expect(mixed.outcome.path.stages!.map((s) => s.path)).toEqual(['features', 'images']);
    expect(mixed.outcome.path.stages![1]!.reason).toBe('the backbone trains in this stage (3 of its layers have trainable weights)');
    expect(accuracies(mixed.outcome)).toEqual(accuracies(full.outcome));
    for (const [a, b] of mixed.outcome.history.map((h, i) => [h.valLoss, full.outcome.history[i]!.valLoss])) expect(a).toBeCloseTo(b!, 3);
    expect(mixed.outcome.tensors.leaked).toBe(0);
  });

  it('falls back to the images, saying why: augmentation, a backbone that trains', async () => {
    const flipped = await train(true, { flip: true });
    expect(flipped.outcome.path).toEqual({ path: 'images', reason: 'the trainer augments the images (flip, zoom), so the features change at every step' });
    const trains = await train(true, { trainable: true });
    expect(trains.outcome.path).toEqual({ path: 'images', reason: 'the backbone trains in this stage (3 of its layers have trainable weights)' });
  });
});
