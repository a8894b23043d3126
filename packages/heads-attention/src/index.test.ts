import { tf, UsageError } from '@headbench/core';
import { describeHeadConformance } from '@headbench/testing';
import { describe, expect, it } from 'vitest';
import attention from './index.js';

// The contract every head keeps (CONTRIBUTING.md, "What the kit checks"). Attention has no layer
// the engine translates, and the engine traces it into both graphs (packages/engine/src/graph/trace.ts). heads=1
// and heads=4 besides the default 8.
describeHeadConformance(attention);
describeHeadConformance(attention, { options: { heads: 4 } });

describe('attention', () => {
  it('refuses heads that do not divide the channels, in one line', () => {
    const input = tf.input({ shape: [3, 3, 12] });
    const build = () => attention({ heads: 8 }).build(input, { classes: 5, featureShape: [3, 3, 12], seed: 1 });
    expect(build).toThrow(UsageError);
    expect(build).toThrow('attention: heads=8 does not divide the feature channels (12, features [3, 3, 12]); pick heads among the divisors of 12');
  });

  it('counts CLIP\'s weights: positions, three projections, c_proj as the classifier', () => {
    expect(attention().paramCount!([3, 3, 1280], 5)).toBe(10 * 1280 + 3 * (1280 * 1280 + 1280) + 1280 * 5 + 5);
  });
});
