import { describe, expect, it } from 'vitest';
import { NATIVE_BACKEND, runtimeInfo, tf } from './runtime.js';

describe('native runtime', () => {
  it('runs on the tensorflow backend with the provisioned libtensorflow', () => {
    const info = runtimeInfo();
    expect(info.backend).toBe(NATIVE_BACKEND);
    expect(info.libtensorflow).toMatch(/^2\.\d+\.\d+/);
  });

  it('records the kernel family this process runs on, as the test project forces it', () => {
    // vitest.config.ts runs every file with TF_ENABLE_ONEDNN_OPTS=1 and again with =0.
    const forced = process.env['TF_ENABLE_ONEDNN_OPTS'];
    const { onednn } = runtimeInfo();
    expect(onednn.enabled).toBe(forced !== '0');
    expect(onednn.reason).toBe(`TF_ENABLE_ONEDNN_OPTS=${forced} in the environment`);
    if (!onednn.enabled) expect(onednn.conv1x1AsMatMul).toBeUndefined();
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
