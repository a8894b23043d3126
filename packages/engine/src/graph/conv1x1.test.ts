import { afterEach, describe, expect, it } from 'vitest';
import { conv1x1ByMatMul, conv1x1FilterGradByMatMul, conv1x1InputGradByMatMul } from '../kernel-fixes.js';
import { oneDnnState, setOneDnnState, type ChannelPair } from '../onednn/state.js';
import { tf } from '../runtime.js';
import { createTrainStep, sgdConfig } from '../step.js';
import { buildInferenceGraph, compileInference } from './inference.js';

// 1x1 convolutions that oneDNN dies on run as matrix products (onednn/policy.ts decides which).
// Here: the matrix-product forms against a float64 reference in JavaScript, the real eager
// convolution with 512->1024 channels (which oneDNN 3.7 divides by zero for on this project's
// AVX-512 machine: without the avoidance this file dies there), and the graphs with the rewrite
// forced for small channel pairs against tfjs' eager layers.

const initial = oneDnnState();
afterEach(() => setOneDnnState(initial));
const avoid = (pairs: ChannelPair[]) => setOneDnnState({ ...initial, enabled: true, conv1x1AsMatMul: { pairs, why: 'the test' } });

/** conv2d with a 1x1 kernel, SAME, in float64: y[n, i, j] = x[n, i*s, j*s] . w, and both gradients for dy. */
function reference(x: tf.Tensor4D, w: tf.Tensor4D, dy: tf.Tensor4D, s: number) {
  const [n, h, wd, c] = x.shape;
  const out = w.shape[3];
  const [oh, ow] = [Math.ceil(h / s), Math.ceil(wd / s)];
  const [xv, wv, dv] = [x.dataSync(), w.dataSync(), dy.dataSync()];
  const y = new Float64Array(n * oh * ow * out);
  const dx = new Float64Array(n * h * wd * c);
  const dw = new Float64Array(c * out);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++) {
        const px = ((b * h + i * s) * wd + j * s) * c;
        const po = ((b * oh + i) * ow + j) * out;
        for (let k = 0; k < c; k++)
          for (let o = 0; o < out; o++) {
            y[po + o]! += xv[px + k]! * wv[k * out + o]!;
            dx[px + k]! += dv[po + o]! * wv[k * out + o]!;
            dw[k * out + o]! += xv[px + k]! * dv[po + o]!;
          }
      }
  return { y, dx, dw };
}

const relError = (got: tf.Tensor, want: Float64Array) => {
  const g = got.dataSync();
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(g[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return g.length === want.length ? diff / scale : Number.POSITIVE_INFINITY;
};

describe('1x1 convolutions as matrix products', () => {
  it.each([
    [512, 1024, 1, 4],
    [512, 1024, 2, 5],
    [24, 40, 2, 6],
    [40, 24, 3, 7],
  ])('equal the convolution and its gradients: %i->%i channels, stride %i, %ipx', (c, out, s, size) => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, size, size, c], 0, 1, 'float32', 1) as tf.Tensor4D;
      const w = tf.randomNormal([1, 1, c, out], 0, 0.05, 'float32', 2) as tf.Tensor4D;
      const oh = Math.ceil(size / s);
      const dy = tf.randomNormal([2, oh, oh, out], 0, 1, 'float32', 3) as tf.Tensor4D;
      const want = reference(x, w, dy, s);
      expect(relError(conv1x1ByMatMul(x, w, [s, s]), want.y)).toBeLessThan(1e-5);
      expect(relError(conv1x1InputGradByMatMul(dy, w, x.shape, [s, s]), want.dx)).toBeLessThan(1e-5);
      expect(relError(conv1x1FilterGradByMatMul(x, dy, [s, s]), want.dw)).toBeLessThan(1e-5);
      // The eager convolution as a layer runs it (through the replaced kernels where oneDNN dies).
      for (const pad of ['same', 'valid'] as const) {
        const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, pad), dy)))([x, w]);
        expect(relError(tf.conv2d(x, w, s, pad), want.y)).toBeLessThan(1e-5);
        expect(relError(gx!, want.dx)).toBeLessThan(1e-5);
        expect(relError(gw!, want.dw)).toBeLessThan(1e-5);
        const fused = tf.fused.conv2d({ x, filter: w, strides: s, pad, bias: tf.ones([out]), activation: 'relu' });
        expect(relError(fused, Float64Array.from(want.y, (v) => Math.max(0, v + 1)))).toBeLessThan(1e-5);
      }
    });
  });
});

const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;

/** 1x1 convolutions 8->24 at stride 2 (with bias and relu) and 24->16 at stride 1, around a BatchNorm, on an odd size. */
function build(): tf.LayersModel {
  const input = tf.input({ shape: [11, 11, 3] });
  let x = apply(tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }), input);
  x = apply(tf.layers.conv2d({ filters: 24, kernelSize: 1, strides: 2, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }), biasInitializer: tf.initializers.randomNormal({ seed: 3 }) }), x);
  x = apply(tf.layers.batchNormalization({ epsilon: 1e-3, momentum: 0.9 }), x);
  x = apply(tf.layers.conv2d({ filters: 16, kernelSize: 1, useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }), x);
  return tf.model({ inputs: input, outputs: apply(tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }), apply(tf.layers.globalAveragePooling2d({}), x)) });
}

const PAIRS: ChannelPair[] = [
  [8, 24],
  [24, 16],
];

describe('the graphs with 1x1 convolutions as matrix products', () => {
  it('infer as model.predict does, with no Conv2D left for the avoided channels', async () => {
    avoid(PAIRS);
    const model = build();
    const ops = buildInferenceGraph(model).nodes.map((n) => n.op);
    expect(ops.filter((op) => op === 'Conv2D')).toHaveLength(1);
    expect(ops.filter((op) => op === 'MatMul')).toHaveLength(3);
    expect(ops).toContain('StridedSlice');
    const inference = await compileInference(model);
    const x = tf.randomNormal([3, 11, 11, 3], 0, 1, 'float32', 6);
    const [a, b] = [inference.predict(x), model.predict(x) as tf.Tensor];
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-5);
    tf.dispose([x, a, b]);
    inference.dispose();
    model.dispose();
  });

  it('train as the eager step does, from the same weights', async () => {
    const x = tf.randomNormal([4, 11, 11, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const y = tf.tensor1d([0, 1, 2, 0], 'int32');
    const eagerModel = build();
    const optimizer = tf.train.sgd(0.1);
    const eagerLoss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(tf.oneHot(y, 3), eagerModel.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true)!;
    avoid(PAIRS);
    const graphModel = build();
    const step = createTrainStep(graphModel, sgdConfig(0.1), 3);
    const { loss } = await step(x, y);
    expect(step.engine).toEqual({ engine: 'graph' });
    expect(Math.abs(loss - eagerLoss.dataSync()[0]!)).toBeLessThan(1e-5);
    graphModel.weights.forEach((w, i) => {
      const [g, e] = [w.read(), eagerModel.weights[i]!.read()];
      expect(tf.max(tf.abs(tf.sub(g, e))).dataSync()[0], w.originalName).toBeLessThan(1e-5);
    });
    step.dispose();
    optimizer.dispose();
    tf.dispose([x, y, eagerLoss]);
    eagerModel.dispose();
    graphModel.dispose();
  });
});
