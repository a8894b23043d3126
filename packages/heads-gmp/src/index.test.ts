import { tf } from '@headbench/core';
import { describeHeadConformance } from '@headbench/testing';
import { describe, expect, it } from 'vitest';
import gmp from './index.js';

// The contract every head keeps (CONTRIBUTING.md, "What the kit checks"): meta, options, output
// shape, seeding, parameter count, two heads in one model, no tensor leaks, save and load, and a
// clear error for features it cannot take.
describeHeadConformance(gmp);

describe('gmp', () => {
  it('takes the maximum of each channel, not the mean', () => {
    // Logits of a one-class head with a kernel of ones and zero bias are the sum of the pooled
    // features: the per-channel maxima here.
    const input = tf.input({ shape: [2, 2, 2] });
    const model = tf.model({ inputs: input, outputs: gmp().build(input, { classes: 2, featureShape: [2, 2, 2], seed: 1 }) });
    const dense = model.layers.at(-1)!;
    dense.setWeights([tf.ones([2, 2]), tf.zeros([2])]);
    const x = tf.tensor4d([1, 5, 2, 0, 3, 1, 4, 2], [1, 2, 2, 2]);
    expect(Array.from((model.predict(x) as tf.Tensor).dataSync())).toEqual([4 + 5, 4 + 5]);
    model.dispose();
  });
});
