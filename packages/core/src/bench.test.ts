import { describe, expect, it } from 'vitest';
import { benchModel, timeTask } from './bench.js';
import { tf } from '@headbench/engine';

describe('timeTask', () => {
  it('times a clean call with tinybench and finds no leak', async () => {
    const a = tf.randomNormal([64, 64]);
    const timing = await timeTask('matmul', async () => {
      const y = tf.matMul(a, a);
      await y.data();
      y.dispose();
    }, { minSamples: 12, minTimeMs: 50 });
    expect(timing.samples).toBeGreaterThanOrEqual(12);
    expect(timing.latency.p50).toBeGreaterThan(0);
    expect(timing.latency.p99).toBeGreaterThanOrEqual(timing.latency.p50);
    expect(timing.throughput).toBeGreaterThan(0);
    expect(timing.tensors.leakedPerCall).toBe(0);
    a.dispose();
  });

  it('reports a deliberately leaking step', async () => {
    const a = tf.ones([8]);
    const kept: tf.Tensor[] = [];
    const timing = await timeTask('leaky', async () => {
      const y = a.add(1); // never disposed: one tensor per call
      kept.push(y);
      await y.data();
    }, { minSamples: 10, minTimeMs: 10 });
    expect(timing.tensors.leakedPerCall).toBe(1);
    expect(timing.tensors.after - timing.tensors.before).toBe(timing.samples);
    tf.dispose([a, ...kept]);
  });
});

describe('benchModel', () => {
  it('times train step and inference of a real model without leaking', async () => {
    const input = tf.input({ shape: [16, 16, 3] });
    const conv = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
    const bn = tf.layers.batchNormalization().apply(conv) as tf.SymbolicTensor;
    const logits = tf.layers.dense({ units: 3 }).apply(tf.layers.globalAveragePooling2d({}).apply(bn)) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: logits });

    const result = await benchModel(model, { inputSize: 16, classes: 3, batchSize: 4, lr: 0.01, seed: 1, minSamples: 5, minTimeMs: 10 });
    for (const t of [result.train, result.inference, result.inferenceSingle]) {
      expect(t.samples).toBeGreaterThanOrEqual(5);
      expect(t.tensors.leakedPerCall).toBe(0);
    }
    expect(result.imagesPerSecond.train).toBeCloseTo(4000 / result.train.latency.p50, 6);
    expect(result.peakRssMB).toBeGreaterThan(10);
    // Inference is timed as one TensorFlow graph, as headbench evaluates.
    expect(result.inferenceEngine).toEqual({ engine: 'graph' });
    expect(result.trainEngine).toEqual({ engine: 'graph' });
    model.dispose();
  });
});
