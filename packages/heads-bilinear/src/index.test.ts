import { tf } from '@headbench/core';
import { describeHeadConformance } from '@headbench/testing';
import { describe, expect, it } from 'vitest';
import bilinear, { BilinearPooling2D } from './index.js';

// The contract every head keeps (CONTRIBUTING.md, "What the kit checks"). The outer product has
// no layer the engine translates, and the engine traces it into both graphs (packages/engine/src/graph/trace.ts).
describeHeadConformance(bilinear);
describeHeadConformance(bilinear, { options: { d: 3 } });

describe('bilinear pooling', () => {
  it('is the normalised signed root of the mean outer product, unit length', () => {
    // One position with features (1, -2): the outer product [[1, -2], [-2, 4]].
    const layer = new BilinearPooling2D({});
    const x = tf.tensor4d([1, -2], [1, 1, 1, 2]);
    const y = layer.apply(x) as tf.Tensor;
    const root = [1, -2, -2, 4].map((g) => Math.sign(g) * Math.sqrt(Math.abs(g) + 1e-5));
    const norm = Math.hypot(...root);
    Array.from(y.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(root[i]! / norm, 6));
    tf.dispose([x, y]);
  });

  it('counts the 1x1 convolution and a classifier on d^2 features', () => {
    expect(bilinear().paramCount!([3, 3, 1280], 5)).toBe(1280 * 64 + 64 + 64 * 64 * 5 + 5);
  });
});
