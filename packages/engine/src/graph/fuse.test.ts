import { describe, expect, it } from 'vitest';
import { tf } from '../runtime.js';
import { createTrainStep, sgdConfig } from '../step.js';
import { buildInferenceGraph, compileInference } from './inference.js';
import type { InferencePasses } from './fuse.js';

const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;
const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

let seed = 100;
const init = () => tf.initializers.glorotUniform({ seed: seed++ });
/** A BatchNorm with statistics and affine parameters far from the identity, so folding shows. */
const bn = (options: { center?: boolean; scale?: boolean; name?: string } = {}) =>
  tf.layers.batchNormalization({
    epsilon: 1e-3,
    ...options,
    gammaInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: seed++ }),
    betaInitializer: tf.initializers.randomNormal({ seed: seed++ }),
    movingMeanInitializer: tf.initializers.randomNormal({ stddev: 0.5, seed: seed++ }),
    movingVarianceInitializer: tf.initializers.randomUniform({ minval: 0.3, maxval: 2, seed: seed++ }),
  });

/**
 * Every case the folding pass has to tell apart: BatchNorms after a convolution with and without
 * bias, with and without scale and centre, after a depthwise convolution with a channel
 * multiplier; a BatchNorm after an activation, after a convolution whose output is also read
 * elsewhere and after a Dense (not folded); padding that equals SAME and padding that does not.
 * `trainable`: only BatchNorms with scale and centre (those tfjs and the training graph train).
 */
function buildModel(trainable: boolean): tf.LayersModel {
  const input = tf.input({ shape: [12, 12, 3] });
  let x = apply(tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]] }), input);
  x = apply(tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', useBias: false, kernelInitializer: init(), name: 'conv_nobias' }), x);
  x = apply(tf.layers.reLU({ maxValue: 6 }), apply(bn({ name: 'bn_after_conv' }), x));
  x = apply(tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', useBias: true, depthwiseInitializer: init(), biasInitializer: tf.initializers.randomNormal({ seed: seed++ }), name: 'dw_bias' }), x);
  x = apply(tf.layers.reLU(), apply(bn({ center: trainable, name: 'bn_after_dw' }), x));
  const wide = apply(tf.layers.conv2d({ filters: 6, kernelSize: 1, useBias: true, kernelInitializer: init(), biasInitializer: tf.initializers.randomNormal({ seed: seed++ }), name: 'conv_bias' }), x);
  const a = apply(bn({ scale: trainable, name: 'bn_after_conv_bias' }), wide);
  // Not foldable: the activation sits between convolution and BatchNorm.
  const b = apply(bn({ name: 'bn_after_relu' }), apply(tf.layers.conv2d({ filters: 6, kernelSize: 1, activation: 'relu', kernelInitializer: init(), name: 'conv_relu' }), x));
  // Not foldable: the convolution's output is read by the BatchNorm and by the pooling below.
  const shared = apply(tf.layers.conv2d({ filters: 6, kernelSize: 1, useBias: false, kernelInitializer: init(), name: 'conv_shared' }), x);
  const c = apply(bn({ name: 'bn_after_shared' }), shared);
  x = apply(tf.layers.add(), [a, b, c]);
  // Padding that SAME does not reproduce (SAME would pad 1 on each side): EXPLICIT for a Conv2D, kept as a Pad for a depthwise one.
  x = apply(tf.layers.zeroPadding2d({ padding: [[0, 2], [2, 0]] }), x);
  x = apply(tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'valid', useBias: false, depthwiseInitializer: init(), name: 'dw_nobias' }), x);
  x = apply(tf.layers.zeroPadding2d({ padding: [[1, 0], [0, 1]] }), apply(bn({ center: trainable, scale: trainable, name: 'bn_after_dw_bare' }), x));
  x = apply(tf.layers.conv2d({ filters: 6, kernelSize: 2, padding: 'valid', useBias: false, kernelInitializer: init(), name: 'conv_explicit' }), x);
  x = apply(bn({ name: 'bn_after_explicit' }), x);
  const pooled = apply(tf.layers.add(), [apply(tf.layers.globalAveragePooling2d({}), x), apply(tf.layers.globalMaxPooling2d({}), shared)]);
  const dense = apply(bn({ name: 'bn_after_dense' }), apply(tf.layers.dense({ units: 7, kernelInitializer: init() }), pooled));
  return tf.model({ inputs: input, outputs: apply(tf.layers.dense({ units: 4, kernelInitializer: init() }), dense) });
}

const variants: [string, Partial<InferencePasses>][] = [
  ['fed folding (the default)', {}],
  ['graph-op folding', { foldBatchNorm: 'graph' }],
  ['explicit _FusedConv2D', { fuseConv2D: true }],
  ['no passes', { foldBatchNorm: false, mergePadding: false }],
];

describe('folding and fusion passes of the inference graph', () => {
  it('folds what can be folded and leaves the rest to a scale and offset', () => {
    const model = buildModel(false);
    const graph = buildInferenceGraph(model);
    expect(graph.passes).toEqual({ foldedBatchNorms: 5, scaleOffsetBatchNorms: 2, mergedPaddings: 2, fusedConvolutions: 0 });
    const ops = graph.nodes.map((n) => n.op);
    expect(ops).not.toContain('FusedBatchNormV3');
    const node = (name: string) => graph.nodes.find((n) => n.name === name)!;
    const padding = (name: string) => new TextDecoder().decode((node(name).attr['padding'] as { s: Uint8Array }).s);
    expect([padding('conv_nobias'), padding('dw_nobias'), padding('conv_explicit')]).toEqual(['SAME', 'VALID', 'EXPLICIT']);
    // The one Pad left is the depthwise convolution's that SAME does not reproduce (see fuse.ts).
    expect(graph.nodes.filter((n) => n.op === 'Pad').map((n) => n.name)).toEqual([node('dw_nobias').input[0]]);
    // The folded layers' kernels, gammas, betas and statistics are fed as folded weights.
    expect(graph.derived.length).toBe(5);
    expect(graph.feeds.length + graph.derived.length * 2).toBeLessThan(model.weights.length);
    model.dispose();
  });

  it.each(variants)('computes what model.predict computes: %s', async (_name, passes) => {
    const model = buildModel(false);
    const inference = await compileInference(model, passes);
    expect(inference.engine, inference.reason).toBe('graph');
    const x = tf.randomNormal([3, 12, 12, 3], 0, 2, 'float32', 7);
    const eager = model.predict(x) as tf.Tensor;
    const graph = inference.predict(x);
    expect(tf.max(tf.abs(eager)).dataSync()[0]).toBeGreaterThan(0.1);
    expect(maxAbsDiff(graph, eager)).toBeLessThan(1e-5);
    tf.dispose([x, eager, graph]);
    inference.dispose();
    model.dispose();
  });

  it.each(variants.slice(0, 2))('follows training steps without a rebuild: %s', async (_name, passes) => {
    const model = buildModel(true);
    const inference = await compileInference(model, passes);
    const x = tf.randomNormal([8, 12, 12, 3], 0, 2, 'float32', 8) as tf.Tensor4D;
    const y = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32');
    const before = inference.predict(x);
    const step = createTrainStep(model, sgdConfig(0.2), 4);
    for (let i = 0; i < 3; i++) await step(x, y);
    const eager = model.predict(x) as tf.Tensor;
    const graph = inference.predict(x);
    expect(maxAbsDiff(graph, before)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(graph, eager)).toBeLessThan(1e-5);
    tf.dispose([x, y, before, eager, graph]);
    step.dispose();
    inference.dispose();
    model.dispose();
  });

  it('follows weights set from outside (setWeights) and keeps the tensor count flat', async () => {
    const model = buildModel(false);
    const inference = await compileInference(model);
    const x = tf.randomNormal([2, 12, 12, 3], 0, 1, 'float32', 9);
    inference.predict(x).dispose();
    const count = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) inference.predict(x).dispose();
    expect(tf.memory().numTensors).toBe(count);
    const layer = model.getLayer('bn_after_dw_bare');
    const [mean, variance] = layer.getWeights();
    const fresh = [tf.add(mean!, 0.5), tf.mul(variance!, 3)];
    layer.setWeights(fresh);
    tf.dispose(fresh);
    const eager = model.predict(x) as tf.Tensor;
    const graph = inference.predict(x);
    expect(maxAbsDiff(graph, eager)).toBeLessThan(1e-5);
    tf.dispose([eager, graph]);
    // The changed fold was recomputed and the old values released; the others were kept.
    expect(tf.memory().numTensors).toBe(count);
    inference.dispose();
    // The folded weights (two tensors for each of the five folds) go with the graph.
    expect(tf.memory().numTensors).toBe(count - 10);
    x.dispose();
    model.dispose();
  });

  it('does not fold a convolution whose weights another call shares', async () => {
    const input = tf.input({ shape: [6, 6, 4] });
    const conv = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init() });
    const first = apply(bn(), apply(conv, input));
    const second = apply(bn(), apply(conv, first));
    const model = tf.model({ inputs: input, outputs: apply(tf.layers.globalAveragePooling2d({}), second) });
    const graph = buildInferenceGraph(model);
    expect(graph.passes.foldedBatchNorms).toBe(0);
    expect(graph.passes.scaleOffsetBatchNorms).toBe(2);
    const inference = await compileInference(model);
    const x = tf.randomNormal([2, 6, 6, 4], 0, 1, 'float32', 10);
    const [a, b] = [inference.predict(x), model.predict(x) as tf.Tensor];
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-5);
    tf.dispose([x, a, b]);
    inference.dispose();
    model.dispose();
  });
});
