import { afterAll, describe, expect, it } from 'vitest';
import { setAcceleration } from '../accelerate.js';
import { tf } from '../runtime.js';
import type { OptimizerSpec } from '../optimizers.js';
import { createTrainStep, sgdConfig, type TrainStepConfig } from '../step.js';

afterAll(() => setAcceleration(true));

const init = (seed: number) => tf.initializers.glorotUniform({ seed });
const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;

/**
 * Every layer the training graph differentiates, MobileNet-style: padding, a strided conv with
 * bias and relu, BatchNorm, ReLU6, a 1x1 expansion, depthwise conv, a residual add, relu6 as
 * an activation, then three heads on one feature map (average, max, flatten) into Dense layers.
 */
function buildModel(): tf.LayersModel {
  const input = tf.input({ shape: [12, 12, 3] });
  let x = apply(tf.layers.zeroPadding2d({ padding: [[1, 0], [0, 1]] }), input);
  x = apply(tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu', kernelInitializer: init(1), biasInitializer: tf.initializers.randomNormal({ seed: 11 }) }), x);
  x = apply(tf.layers.batchNormalization({ epsilon: 1e-3, momentum: 0.9, gammaInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: 12 }), movingVarianceInitializer: 'ones' }), x);
  const skip = apply(tf.layers.reLU({ maxValue: 6 }), x);
  x = apply(tf.layers.conv2d({ filters: 16, kernelSize: 1, useBias: false, kernelInitializer: init(2) }), skip);
  x = apply(tf.layers.batchNormalization({ epsilon: 1e-3, momentum: 0.999 }), x);
  x = apply(tf.layers.activation({ activation: 'relu6' }), x);
  x = apply(tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthwiseInitializer: init(3), useBias: true }), x);
  x = apply(tf.layers.reLU({}), x);
  x = apply(tf.layers.conv2d({ filters: 8, kernelSize: 1, useBias: false, kernelInitializer: init(4) }), x);
  x = apply(tf.layers.add(), [x, skip]);
  const avg = apply(tf.layers.globalAveragePooling2d({}), x);
  const max = apply(tf.layers.globalMaxPooling2d({}), x);
  const flat = apply(tf.layers.flatten(), x);
  const hidden = apply(tf.layers.dense({ units: 6, activation: 'relu', kernelInitializer: init(5) }), flat);
  const summed = apply(tf.layers.add(), [apply(tf.layers.dense({ units: 4, kernelInitializer: init(6) }), avg), apply(tf.layers.dense({ units: 4, useBias: false, kernelInitializer: init(7) }), max)]);
  const logits = apply(tf.layers.add(), [summed, apply(tf.layers.dense({ units: 4, kernelInitializer: init(8) }), apply(tf.layers.dropout({ rate: 0 }), hidden))]);
  return tf.model({ inputs: input, outputs: logits });
}

/**
 * Convolutions whose input gradients are not 1x1 matrix products: 3x3 at stride 2 on 40
 * channels (which TensorFlow's oneDNN kernel gets wrong here, so the graph computes it from a
 * forward convolution), 5x5 valid, 1x1 at stride 2, on odd sizes.
 */
function buildStrided(): tf.LayersModel {
  const input = tf.input({ shape: [13, 13, 3] });
  let x = apply(tf.layers.conv2d({ filters: 40, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1) }), input);
  x = apply(tf.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: init(2) }), x);
  x = apply(tf.layers.conv2d({ filters: 8, kernelSize: 5, padding: 'valid', activation: 'relu6', kernelInitializer: init(3) }), x);
  x = apply(tf.layers.conv2d({ filters: 8, kernelSize: 1, strides: 2, padding: 'valid', kernelInitializer: init(4) }), x);
  const logits = apply(tf.layers.dense({ units: 4, kernelInitializer: init(5) }), apply(tf.layers.flatten(), x));
  return tf.model({ inputs: input, outputs: logits });
}

/** Three steps; the losses, the engine, and every weight after (moving statistics too). */
async function train(graph: boolean, config: TrainStepConfig, build = buildModel) {
  setAcceleration(graph);
  const model = build();
  // Inputs scaled so that ReLU6 saturates in places and the max pooling has clear winners.
  const [, h, w, c] = model.inputs[0]!.shape as number[];
  const x = tf.randomNormal([8, h!, w!, c!], 0, 3, 'float32', 5) as tf.Tensor4D;
  const y = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32');
  const step = createTrainStep(model, config, 4);
  const results = [];
  for (let i = 0; i < 3; i++) results.push(await step(x, y));
  const engine = step.engine;
  // In model order: two builds name their layers differently (tfjs numbers them).
  const weights = model.weights.map((w) => ({ name: w.originalName.split('/').at(-1)!, values: Array.from(w.read().dataSync()) }));
  step.dispose();
  tf.dispose([x, y]);
  if (config.optimizer instanceof tf.Optimizer) config.optimizer.dispose();
  model.dispose();
  setAcceleration(true);
  return { results, engine, weights };
}

const spec = (name: string, options: OptimizerSpec['options'] = {}, extra: Omit<OptimizerSpec, 'name' | 'options'> = {}): OptimizerSpec => ({ name, options, ...extra });
/** A schedule that changes the rate at every step, so that rules which scale by it differ from those that do not. */
const falling = (lr: number) => (iteration: number) => lr / (1 + iteration);

const maxDiff = (a: readonly number[], b: readonly number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('the training step as one TensorFlow graph', () => {
  it.each([
    ['every translated layer', 'sgd', sgdConfig(0.05), buildModel],
    ['every translated layer', 'sgd, momentum 0.9', sgdConfig(0.05, 0.9), buildModel],
    ['every translated layer', 'sgd, Nesterov momentum, a falling rate', { optimizer: spec('sgd', { momentum: 0.9, nesterov: true }), learningRate: falling(0.05) }, buildModel],
    ['every translated layer', 'adam', { optimizer: spec('adam'), learningRate: 0.01 }, buildModel],
    ['every translated layer', 'adam, weight decay, clipnorm, label smoothing', { optimizer: spec('adam', {}, { weightDecay: 0.1, clipNorm: 0.5 }), learningRate: falling(0.01), labelSmoothing: 0.2 }, buildModel],
    ['every translated layer', 'rmsprop, centred, momentum', { optimizer: spec('rmsprop', { momentum: 0.5, centered: true }), learningRate: 0.001 }, buildModel],
    ['every translated layer', 'sgd, flips and zooms', { ...sgdConfig(0.05), augment: { flip: true, zoom: 0.2 }, seed: 3 }, buildModel],
    ['strided and large convolutions', 'sgd', sgdConfig(0.05), buildStrided],
  ] as const)('gives the losses, accuracy and updated weights of the eager step: %s, %s', async (_what, _optimizer, config, build) => {
    const plain = await train(false, config, build);
    const graph = await train(true, config, build);
    expect(plain.engine?.engine).toBe('eager');
    expect(graph.engine).toEqual({ engine: 'graph' });
    graph.results.forEach((r, i) => {
      expect(r.loss).toBeCloseTo(plain.results[i]!.loss, 5);
      expect(r.correct).toBe(plain.results[i]!.correct);
    });
    expect(graph.weights.map((w) => w.name)).toEqual(plain.weights.map((w) => w.name));
    plain.weights.forEach(({ name, values }, k) => {
      expect(maxDiff(values, graph.weights[k]!.values), `${k} ${name}`).toBeLessThan(2e-5);
    });
    // The steps moved every weight, so agreeing means something.
    const start = build();
    start.weights.forEach((w, k) => {
      const moved = maxDiff(graph.weights[k]!.values, Array.from(w.read().dataSync()));
      expect(moved, `${k} ${w.originalName}`).toBeGreaterThan(1e-4);
    });
    start.dispose();
  });

  // tfjs' own optimisers are an independent implementation; where Keras' rules and tfjs' agree
  // (SGD; momentum at a constant rate; RMSprop, not centred; Adam when epsilon is negligible, since
  // Keras adds it outside the bias correction and tfjs inside), the rules here must give tfjs'
  // weights. tfjs' centred RMSprop subtracts epsilon under the root (`ms - mg^2 - eps`, NaN for a
  // zero gradient) where Keras adds it; the Keras fixtures check the centred rule.
  it.each([
    ['sgd', sgdConfig(0.05), () => tf.train.sgd(0.05)],
    ['momentum', sgdConfig(0.05, 0.9), () => tf.train.momentum(0.05, 0.9)],
    ['rmsprop', { optimizer: spec('rmsprop', { rho: 0.8, momentum: 0.5, epsilon: 1e-6 }), learningRate: 0.001 }, () => tf.train.rmsprop(0.001, 0.8, 0.5, 1e-6)],
    ['adam', { optimizer: spec('adam', { epsilon: 1e-12 }), learningRate: 0.01 }, () => tf.train.adam(0.01, 0.9, 0.999, 1e-12)],
  ] as const)('%s: the graph step gives the weights of tfjs\' own optimizer', async (_name, config, make) => {
    const ours = await train(true, config as TrainStepConfig);
    const theirs = await train(false, { optimizer: make() });
    expect(ours.engine).toEqual({ engine: 'graph' });
    ours.weights.forEach(({ name, values }, k) => expect(maxDiff(values, theirs.weights[k]!.values), `${k} ${name}`).toBeLessThan(5e-5));
  });

  it('keeps the tensor count flat and releases its session', async () => {
    const model = buildModel();
    const x = tf.randomNormal([4, 12, 12, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const y = tf.tensor1d([0, 1, 2, 3], 'int32');
    const step = createTrainStep(model, { optimizer: spec('adam'), learningRate: 0.01 }, 4);
    await step(x, y);
    const count = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await step(x, y);
    expect(tf.memory().numTensors).toBe(count);
    step.dispose();
    await expect(step(x, y)).rejects.toThrow(/disposed/);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('runs eagerly, saying why, for what it does not translate', async () => {
    const reasonOf = async (model: tf.LayersModel, config: TrainStepConfig) => {
      const step = createTrainStep(model, config, 2);
      const x = tf.ones([2, 4, 4, 3]) as tf.Tensor4D;
      const y = tf.tensor1d([0, 1], 'int32');
      const { loss } = await step(x, y);
      expect(Number.isFinite(loss)).toBe(true);
      tf.dispose([x, y]);
      if (config.optimizer instanceof tf.Optimizer) config.optimizer.dispose();
      step.dispose();
      model.dispose();
      return step.engine;
    };
    const withLayer = (layer: tf.layers.Layer) => {
      const input = tf.input({ shape: [4, 4, 3] });
      return tf.model({ inputs: input, outputs: apply(tf.layers.dense({ units: 2 }), apply(layer, apply(tf.layers.flatten(), input))) });
    };
    expect(await reasonOf(withLayer(tf.layers.dropout({ rate: 0.5, name: 'drop' })), sgdConfig(0.1))).toEqual({
      engine: 'eager',
      reason: 'layer drop (Dropout) drops units at random in training, which the training graph does not do',
    });
    expect(await reasonOf(withLayer(tf.layers.activation({ activation: 'tanh', name: 'squash' })), sgdConfig(0.1))).toEqual({
      engine: 'eager',
      reason: 'layer squash (Activation) uses activation "tanh", which the training graph does not differentiate',
    });
    expect(await reasonOf(withLayer(tf.layers.activation({ activation: 'relu' })), { optimizer: tf.train.adagrad(0.01) })).toEqual({
      engine: 'eager',
      reason: "the trainer's optimizer is tfjs' Adagrad, which has no graph translation (give an OptimizerSpec of optimizerTranslators instead)",
    });
  });
});
