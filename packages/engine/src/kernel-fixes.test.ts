import { describe, expect, it } from 'vitest';
import { conv2dBackpropInputByForward } from './kernel-fixes.js';
import { tf } from './runtime.js';

type Padding = 'same' | 'valid';

/**
 * How far a conv2d input gradient is from the truth, by the adjoint identity: for any probe p,
 * <dx, p> must equal <conv2d(p, filter), dy>, because conv2d is linear in its input. Relative.
 */
function adjointError(dx: tf.Tensor4D, filter: tf.Tensor4D, dy: tf.Tensor, stride: number, pad: Padding, seed: number): number {
  return tf.tidy(() => {
    const p = tf.randomNormal(dx.shape, 0, 1, 'float32', seed) as tf.Tensor4D;
    const left = tf.sum(tf.mul(dx, p)).dataSync()[0] as number;
    const right = tf.sum(tf.mul(tf.conv2d(p, filter, stride, pad), dy)).dataSync()[0] as number;
    return Math.abs(left - right) / Math.abs(right);
  });
}

// Channel counts the native oneDNN kernel got wrong on this project's machines (40, 72, 112, 320)
// and ones it got right (32, 64), kernels 1, 3 and 5, strides 1 and 2, both paddings, odd sizes.
const CASES: [kernel: number, stride: number, channels: number, size: number, pad: Padding][] = [
  [1, 1, 112, 6, 'same'],
  [1, 1, 320, 3, 'same'],
  [1, 1, 64, 5, 'valid'],
  [1, 2, 40, 7, 'same'],
  [3, 1, 72, 6, 'same'],
  [3, 2, 40, 7, 'same'],
  [3, 2, 112, 8, 'valid'],
  [5, 2, 32, 9, 'same'],
  [5, 1, 24, 9, 'valid'],
];

describe('Conv2DBackpropInput', () => {
  it.each(CASES)('from forward ops is exact: kernel %i, stride %i, %i channels, %ipx, %s', (k, s, c, size, pad) => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, size, size, c], 0, 1, 'float32', 1) as tf.Tensor4D;
      const filter = tf.randomNormal([k, k, c, 16], 0, 1, 'float32', 2) as tf.Tensor4D;
      const y = tf.conv2d(x, filter, s, pad);
      const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 3) as tf.Tensor4D;
      const info = tf.backend_util.computeConv2DInfo(x.shape, filter.shape, s, 1, pad);
      const dx = conv2dBackpropInputByForward(dy, filter, info as unknown as Parameters<typeof conv2dBackpropInputByForward>[2]);
      expect(dx.shape).toEqual(x.shape);
      expect(adjointError(dx, filter, dy, s, pad, 4)).toBeLessThan(1e-5);
    });
  });

  it.each(CASES)('as tfjs computes it in a gradient is right: kernel %i, stride %i, %i channels, %ipx, %s', (k, s, c, size, pad) => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, size, size, c], 0, 1, 'float32', 1) as tf.Tensor4D;
      const filter = tf.randomNormal([k, k, c, 16], 0, 1, 'float32', 2) as tf.Tensor4D;
      const dy = tf.randomNormal(tf.conv2d(x, filter, s, pad).shape, 0, 1, 'float32', 3);
      const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(v as tf.Tensor4D, filter, s, pad), dy)))(x) as tf.Tensor4D;
      expect(adjointError(dx, filter, dy, s, pad, 5)).toBeLessThan(1e-5);
    });
  });
});
