import { afterAll, describe, expect, it } from 'vitest';
import { setAcceleration } from '../accelerate.js';
import { tf } from '../runtime.js';
import { createTrainStep, sgdConfig } from '../step.js';
import { buildInferenceGraph, compileInference } from './inference.js';
import { encodeSavedModel } from './saved-model.js';

afterAll(() => setAcceleration(true));

const init = (seed: number) => tf.initializers.glorotUniform({ seed });
const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;

/**
 * Every layer class the translator knows that a conv net head or body is likely to use, with
 * non-default options. `bareNorm`: a BatchNorm without gamma and beta (tfjs itself cannot train
 * one: its training path reads gamma regardless).
 */
function buildModel(bareNorm = true): tf.LayersModel {
  const input = tf.input({ shape: [16, 16, 3] });
  let x = apply(tf.layers.zeroPadding2d({ padding: [[1, 0], [0, 1]] }), input);
  x = apply(tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu', kernelInitializer: init(1), biasInitializer: tf.initializers.randomNormal({ seed: 21 }) }), x);
  x = apply(tf.layers.batchNormalization({ epsilon: 1e-3, gammaInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: 22 }), betaInitializer: tf.initializers.randomNormal({ seed: 23 }), movingMeanInitializer: tf.initializers.randomNormal({ seed: 24 }), movingVarianceInitializer: 'ones' }), x);
  const skip = x;
  x = apply(tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthwiseInitializer: init(2), useBias: true, activation: 'relu6' }), x);
  x = apply(tf.layers.reLU({ maxValue: 3 }), x);
  x = apply(tf.layers.batchNormalization({ center: !bareNorm, scale: !bareNorm, movingMeanInitializer: tf.initializers.randomNormal({ seed: 25 }) }), x);
  const sum = apply(tf.layers.add(), [x, skip]);
  const product = apply(tf.layers.multiply(), [sum, apply(tf.layers.activation({ activation: 'sigmoid' }), skip)]);
  x = apply(tf.layers.maximum(), [product, apply(tf.layers.activation({ activation: 'tanh' }), sum)]);
  x = apply(tf.layers.maxPooling2d({ poolSize: 2 }), x);
  x = apply(tf.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same' }), x);
  const avg = apply(tf.layers.globalAveragePooling2d({}), x);
  const max = apply(tf.layers.globalMaxPooling2d({}), x);
  const flat = apply(tf.layers.flatten(), apply(tf.layers.conv2d({ filters: 2, kernelSize: 1, useBias: false, kernelInitializer: init(3) }), x));
  x = apply(tf.layers.add(), [apply(tf.layers.dense({ units: 6, activation: 'elu', kernelInitializer: init(4) }), avg), apply(tf.layers.dense({ units: 6, kernelInitializer: init(5) }), max)]);
  x = apply(tf.layers.dropout({ rate: 0.5 }), x);
  x = apply(tf.layers.add(), [x, apply(tf.layers.dense({ units: 6, activation: 'swish', kernelInitializer: init(6) }), flat)]);
  const logits = apply(tf.layers.dense({ units: 4, kernelInitializer: init(7) }), apply(tf.layers.reshape({ targetShape: [6] }), x));
  return tf.model({ inputs: input, outputs: logits });
}

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

describe('inference as one TensorFlow graph', () => {
  it('computes what model.predict computes, for every translated layer class', async () => {
    const model = buildModel();
    const inference = await compileInference(model);
    expect(inference.engine, inference.reason).toBe('graph');
    const x = tf.randomNormal([5, 16, 16, 3], 0, 2, 'float32', 1);
    const eager = model.predict(x) as tf.Tensor;
    const graph = inference.predict(x);
    expect(graph.shape).toEqual([5, 4]);
    expect(tf.max(tf.abs(eager)).dataSync()[0]).toBeGreaterThan(0.1);
    expect(maxAbsDiff(graph, eager)).toBeLessThan(1e-5);
    tf.dispose([x, eager, graph]);
    inference.dispose();
    model.dispose();
  });

  it('follows the weights as they train: no rebuild after a step, including BatchNorm statistics', async () => {
    const model = buildModel(false);
    const inference = await compileInference(model);
    const x = tf.randomNormal([8, 16, 16, 3], 0, 2, 'float32', 2) as tf.Tensor4D;
    const y = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32');
    const before = inference.predict(x);
    const step = createTrainStep(model, sgdConfig(0.5), 4);
    await step(x, y);
    step.dispose();
    const eager = model.predict(x) as tf.Tensor;
    const graph = inference.predict(x);
    expect(maxAbsDiff(graph, before)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(graph, eager)).toBeLessThan(1e-5);
    tf.dispose([x, y, before, eager, graph]);
    inference.dispose();
    model.dispose();
  });

  it('takes any batch size and keeps the tensor count flat', async () => {
    const model = buildModel();
    const inference = await compileInference(model);
    for (const batch of [1, 3]) {
      const x = tf.randomNormal([batch, 16, 16, 3], 0, 1, 'float32', batch);
      inference.predict(x).dispose();
      const count = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) inference.predict(x).dispose();
      expect(tf.memory().numTensors).toBe(count);
      x.dispose();
    }
    inference.dispose();
    expect(() => inference.predict(tf.zeros([1, 16, 16, 3]))).toThrow(/disposed/);
    model.dispose();
  });

  it('runs a model with a layer it cannot translate eagerly, naming the layer', async () => {
    /** Copies its input through JavaScript: no op to trace, a value that depends on the data. */
    class RoundTrip extends tf.layers.Layer {
      static readonly className = 'TestRoundTrip';
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        const x = Array.isArray(inputs) ? inputs[0]! : inputs;
        return tf.tensor(x.dataSync(), x.shape);
      }
    }
    const input = tf.input({ shape: [8, 8, 3] });
    const x = apply(tf.layers.conv2d({ filters: 4, kernelSize: 3, kernelInitializer: init(1) }), input);
    const logits = apply(tf.layers.dense({ units: 2, kernelInitializer: init(2) }), apply(tf.layers.flatten(), apply(new RoundTrip({ name: 'copy' }), x)));
    const model = tf.model({ inputs: input, outputs: logits });
    const inference = await compileInference(model);
    expect(inference.engine).toBe('eager');
    expect(inference.reason).toBe('layer copy (TestRoundTrip) could not be traced into a graph: reads tensor values back in JavaScript (dataSync, arraySync, ...), which a graph cannot follow');
    const xs = tf.ones([2, 8, 8, 3]);
    const a = inference.predict(xs);
    const b = model.predict(xs) as tf.Tensor;
    expect(maxAbsDiff(a, b)).toBe(0);
    tf.dispose([xs, a, b]);
    model.dispose();
  });

  it('refuses options it does not translate rather than guessing', () => {
    const input = tf.input({ shape: [4] });
    const model = tf.model({ inputs: input, outputs: apply(tf.layers.dense({ units: 2, activation: 'hardSigmoid', name: 'odd' }), input) });
    expect(() => buildInferenceGraph(model)).toThrow('layer odd (Dense) uses activation "hardSigmoid", which has no graph translation');
    model.dispose();
  });

  it('is off with acceleration, for comparisons', async () => {
    setAcceleration(false);
    const model = buildModel();
    const inference = await compileInference(model);
    expect(inference.engine).toBe('eager');
    expect(inference.reason).toMatch(/HEADBENCH_ACCELERATE=0/);
    setAcceleration(true);
    model.dispose();
  });

  it('feeds each weight once and names the signature after the layers', () => {
    const model = buildModel();
    const graph = buildInferenceGraph(model);
    expect(graph.feeds.length).toBe(model.weights.length);
    expect(new Set(graph.feeds).size).toBe(graph.feeds.length);
    expect(graph.nodes.map((n) => n.op)).toContain('DepthwiseConv2dNative');
    expect(encodeSavedModel(graph.nodes, graph.signature).byteLength).toBeGreaterThan(1000);
    model.dispose();
  });
});
