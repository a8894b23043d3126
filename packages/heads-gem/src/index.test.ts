import { tf } from '@headbench/core';
import { describeHeadConformance } from '@headbench/testing';
import { describe, expect, it } from 'vitest';
import gem from './index.js';

// The contract every head keeps (CONTRIBUTING.md, "What the kit checks"). GeM's power has no
// layer the engine translates, and the engine traces it into both graphs (packages/engine/src/graph/trace.ts).
describeHeadConformance(gem);

function pooledBy(p: number, x: tf.Tensor4D): Float32Array {
  // A one-class-per-channel head with an identity kernel and zero bias outputs the pooled features.
  const [, h, w, c] = x.shape;
  const input = tf.input({ shape: [h, w, c] });
  const model = tf.model({ inputs: input, outputs: gem({ p }).build(input, { classes: c, featureShape: [h, w, c], seed: 1 }) });
  const dense = model.layers.at(-1)!;
  const eye = tf.eye(c);
  const zero = tf.zeros([c]);
  dense.setWeights([eye, zero]);
  const y = model.predict(x) as tf.Tensor;
  const out = y.dataSync() as Float32Array;
  tf.dispose([eye, zero, y]);
  model.dispose();
  return out;
}

describe('gem', () => {
  const x = tf.tensor4d(Array.from({ length: 2 * 3 * 4 * 5 }, (_, i) => 0.05 + ((i * 37) % 23) / 7), [2, 3, 4, 5]);

  it('is average pooling at p = 1 (an exact identity)', () => {
    const mean = tf.mean(x, [1, 2]);
    const got = Array.from(pooledBy(1, x));
    Array.from(mean.dataSync()).forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
    mean.dispose();
  });

  it('tends to max pooling as p grows', () => {
    const max = tf.max(x, [1, 2]);
    const got = Array.from(pooledBy(80, x));
    // (mean x^p)^(1/p) >= max * (1/HW)^(1/p): within 3.2% of the maximum at HW = 12, p = 80.
    Array.from(max.dataSync()).forEach((v, i) => {
      expect(got[i]).toBeLessThanOrEqual(v * (1 + 1e-5));
      expect(got[i]).toBeGreaterThan(v * 12 ** (-1 / 80) * (1 - 1e-5));
    });
    max.dispose();
  });

  it('learns p: a training step moves it', () => {
    const input = tf.input({ shape: [3, 4, 5] });
    const model = tf.model({ inputs: input, outputs: gem().build(input, { classes: 2, featureShape: [3, 4, 5], seed: 1 }) });
    const p = model.layers[1]!.weights[0]!;
    expect(p.trainable).toBe(true);
    const optimizer = tf.train.sgd(0.1);
    const labels = tf.oneHot(tf.tensor1d([0, 1], 'int32'), 2);
    optimizer.minimize(() => tf.losses.softmaxCrossEntropy(labels, model.apply(x) as tf.Tensor) as tf.Scalar);
    const after = p.read().dataSync()[0]!;
    expect(after).not.toBe(3);
    tf.dispose([labels]);
    optimizer.dispose();
    model.dispose();
  });
});
