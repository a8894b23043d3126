import { describe, expect, it } from 'vitest';
import { NATIVE_BACKEND, runtimeInfo, tf } from './runtime.js';

describe('native runtime', () => {
  it('runs on the tensorflow backend with the provisioned libtensorflow', () => {
    const info = runtimeInfo();
    expect(info.backend).toBe(NATIVE_BACKEND);
    expect(info.libtensorflow).toMatch(/^2\.\d+\.\d+/);
  });

  it('computes a convolution gradient natively', () => {
    // d/dw sum(conv2d(x, w)) for x of ones is the number of windows each weight sees:
    // a 2x2 kernel over a 4x4 input has 3x3 windows, so every entry is 9.
    const x = tf.ones([1, 4, 4, 1]) as tf.Tensor4D;
    const w = tf.randomNormal([2, 2, 1, 1]);
    const grad = tf.grad((k) => tf.conv2d(x, k as tf.Tensor4D, 1, 'valid').sum())(w);
    expect(Array.from(grad.dataSync())).toEqual([9, 9, 9, 9]);
    tf.dispose([x, w, grad]);
  });
});
