import { tf } from '@headbench/core';
import { describeHeadConformance } from '@headbench/testing';
import { describe, expect, it } from 'vitest';
import lse from './index.js';

// The contract every head keeps (CONTRIBUTING.md, "What the kit checks"). LSE has no layer the
// engine translates, and the engine traces it into both graphs (packages/engine/src/graph/trace.ts).
describeHeadConformance(lse);

function pooledBy(r: number, x: tf.Tensor4D): number[] {
  // An identity kernel and zero bias make the logits the pooled features.
  const [, h, w, c] = x.shape;
  const input = tf.input({ shape: [h, w, c] });
  const model = tf.model({ inputs: input, outputs: lse({ r }).build(input, { classes: c, featureShape: [h, w, c], seed: 1 }) });
  const eye = tf.eye(c);
  const zero = tf.zeros([c]);
  model.layers.at(-1)!.setWeights([eye, zero]);
  const y = model.predict(x) as tf.Tensor;
  const out = Array.from(y.dataSync());
  tf.dispose([eye, zero, y]);
  model.dispose();
  return out;
}

describe('lse', () => {
  const x = tf.tensor4d(Array.from({ length: 2 * 3 * 4 * 5 }, (_, i) => ((i * 37) % 23) / 7 - 1), [2, 3, 4, 5]);

  it('averages as r tends to 0 and is exact on a constant map', () => {
    const mean = tf.tidy(() => Array.from(tf.mean(x, [1, 2]).dataSync()));
    pooledBy(1e-3, x).forEach((v, i) => expect(Math.abs(v - mean[i]!)).toBeLessThan(5e-3));
    const constant = tf.fill([1, 2, 2, 3], 0.7) as tf.Tensor4D;
    pooledBy(10, constant).forEach((v) => expect(v).toBeCloseTo(0.7, 5));
    constant.dispose();
  });

  it('lies between max - log(HW)/r and max, without overflow at large r', () => {
    const max = tf.tidy(() => Array.from(tf.max(x, [1, 2]).dataSync()));
    for (const r of [10, 1000]) {
      pooledBy(r, x).forEach((v, i) => {
        expect(v).toBeLessThanOrEqual(max[i]! + 1e-5);
        expect(v).toBeGreaterThanOrEqual(max[i]! - Math.log(12) / r - 1e-5);
      });
    }
  });
});
