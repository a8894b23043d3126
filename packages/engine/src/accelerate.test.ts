import { afterAll, describe, expect, it } from 'vitest';
import { accelerationEnabled, fusedBatchNormTraining, setAcceleration } from './accelerate.js';
import { tf } from './runtime.js';

afterAll(() => setAcceleration(true));

/** A small MobileNet-like block: conv, BatchNorm, ReLU6, depthwise conv, BatchNorm, relu6 activation, head. */
function buildModel(): tf.LayersModel {
  const input = tf.input({ shape: [12, 12, 3] });
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }), name: 'c1' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ epsilon: 1e-3, momentum: 0.9, name: 'bn1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, depthwiseInitializer: tf.initializers.glorotUniform({ seed: 2 }), name: 'dw' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ epsilon: 1e-3, momentum: 0.9, name: 'bn2' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: 'relu6' }).apply(x) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }), name: 'fc' }).apply(tf.layers.globalAveragePooling2d({}).apply(x)) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}

/** Two SGD steps; returns the losses and every weight (trainable and moving statistics) after. */
function train(accelerated: boolean) {
  setAcceleration(accelerated);
  const model = buildModel();
  // Inputs scaled so that many activations pass 6 and some are negative: both ReLU6 edges matter.
  const x = tf.randomNormal([8, 12, 12, 3], 0, 4, 'float32', 5);
  const y = tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32');
  const optimizer = tf.train.sgd(0.1);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const losses: number[] = [];
  for (let i = 0; i < 2; i++) {
    const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(tf.oneHot(y, 3), model.apply(x, { training: true }) as tf.Tensor), true, vars)!;
    losses.push(loss.dataSync()[0]!);
    loss.dispose();
  }
  const weights = Object.fromEntries(model.weights.map((w) => [w.originalName, Array.from(w.read().dataSync())]));
  const inference = Array.from((model.predict(x) as tf.Tensor).dataSync());
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
  return { losses, weights, inference };
}

describe('acceleration', () => {
  it('is on by default on the tensorflow backend', () => {
    expect(accelerationEnabled()).toBe(true);
  });

  it('gives the same losses, updated weights and moving statistics as tfjs itself', () => {
    const plain = train(false);
    const fast = train(true);
    expect(fast.losses[0]).toBeCloseTo(plain.losses[0]!, 5);
    expect(fast.losses[1]).toBeCloseTo(plain.losses[1]!, 5);
    expect(Object.keys(fast.weights).sort()).toEqual(Object.keys(plain.weights).sort());
    for (const [name, values] of Object.entries(plain.weights)) {
      const other = fast.weights[name]!;
      const maxDiff = Math.max(...values.map((v, i) => Math.abs(v - other[i]!)));
      expect(maxDiff, name).toBeLessThan(1e-5);
    }
    const maxOut = Math.max(...plain.inference.map((v, i) => Math.abs(v - fast.inference[i]!)));
    expect(maxOut).toBeLessThan(1e-4);
  });

  it('fused batch norm returns the biased batch variance, as Keras 3 averages it', () => {
    const x = tf.randomNormal([4, 5, 5, 3], 1, 2, 'float32', 9) as tf.Tensor4D;
    const [y, mean, variance] = fusedBatchNormTraining(x, tf.ones([3]) as tf.Tensor1D, tf.zeros([3]) as tf.Tensor1D, 1e-3);
    const m = tf.moments(x, [0, 1, 2]);
    expect(tf.max(tf.abs(tf.sub(mean, m.mean))).dataSync()[0]).toBeLessThan(1e-5);
    expect(tf.max(tf.abs(tf.sub(variance, m.variance))).dataSync()[0]).toBeLessThan(1e-4);
    expect(y.shape).toEqual([4, 5, 5, 3]);
  });

  it('does not leak tensors in a training step', () => {
    setAcceleration(true);
    const model = buildModel();
    const x = tf.randomNormal([4, 12, 12, 3]);
    const y = tf.tensor1d([0, 1, 2, 0], 'int32');
    const optimizer = tf.train.sgd(0.01);
    const step = () => optimizer.minimize(() => tf.losses.softmaxCrossEntropy(tf.oneHot(y, 3), model.apply(x, { training: true }) as tf.Tensor), true)!.dispose();
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
    optimizer.dispose();
    model.dispose();
  });
});

describe('which kernels a step runs', () => {
  async function kernelsOfStep(accelerated: boolean): Promise<Set<string>> {
    return new Set((await kernelCallsOfStep(accelerated)).map((k) => k.name));
  }

  async function kernelCallsOfStep(accelerated: boolean): Promise<{ name: string }[]> {
    setAcceleration(accelerated);
    const model = buildModel();
    const x = tf.randomNormal([4, 12, 12, 3]);
    const y = tf.tensor1d([0, 1, 2, 0], 'int32');
    const optimizer = tf.train.sgd(0.01);
    const profile = await tf.profile(() => {
      optimizer.minimize(() => tf.losses.softmaxCrossEntropy(tf.oneHot(y, 3), model.apply(x, { training: true }) as tf.Tensor), true)!.dispose();
    });
    tf.dispose([x, y]);
    optimizer.dispose();
    model.dispose();
    return profile.kernels;
  }

  it('uses the fused kernels when on and tfjs composites when off', async () => {
    const fast = await kernelsOfStep(true);
    expect(fast.has('HeadbenchFusedBatchNormTrain') && fast.has('HeadbenchFusedBatchNormGrad') && fast.has('HeadbenchRelu6Grad')).toBe(true);
    expect(fast.has('Step') || fast.has('ClipByValue')).toBe(false);
    const plain = await kernelsOfStep(false);
    expect(plain.has('HeadbenchFusedBatchNormTrain')).toBe(false);
    expect(plain.has('Step') && plain.has('ClipByValue')).toBe(true);
  });

  it('saves tensors for the backward pass without a kernel call each', async () => {
    const identities = async (accelerated: boolean) => (await kernelCallsOfStep(accelerated)).filter((k) => k.name === 'Identity').length;
    const plain = await identities(false);
    expect(plain).toBeGreaterThan(20);
    expect(await identities(true)).toBeLessThan(plain / 4);
  });

  it('still differentiates twice through saved tensors', () => {
    const second = (accelerated: boolean) => {
      setAcceleration(accelerated);
      const x = tf.tensor1d([0.3, -1.2, 2.5]);
      const d2 = tf.grad(tf.grad((v: tf.Tensor) => tf.add(tf.sum(tf.mul(v, tf.mul(v, v))), tf.sum(tf.sin(v)))));
      const out = Array.from(d2(x).dataSync());
      x.dispose();
      return out;
    };
    const plain = second(false);
    const fast = second(true);
    // d²/dx² (x³ + sin x) = 6x - sin x
    plain.forEach((v, i) => expect(v).toBeCloseTo(6 * [0.3, -1.2, 2.5][i]! - Math.sin([0.3, -1.2, 2.5][i]!), 4));
    expect(fast).toEqual(plain);
  });
});
