import { describe, expect, it } from 'vitest';
import { multiplyAdds } from './multiply-adds.js';
import { tf } from './runtime.js';

describe('multiplyAdds', () => {
  it('counts kernel size times output positions for conv, depthwise and dense layers', () => {
    const input = tf.input({ shape: [8, 8, 3] });
    let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor; // 8*8 * 3*3*3*4
    x = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same' }).apply(x) as tf.SymbolicTensor; // 4*4 * 3*3*4
    x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor; // not counted
    x = tf.layers.dense({ units: 5 }).apply(tf.layers.flatten().apply(x)) as tf.SymbolicTensor; // 64 * 5
    const model = tf.model({ inputs: input, outputs: x });
    expect(multiplyAdds(model)).toBe(64 * 108 + 16 * 36 + 64 * 5);
    model.dispose();
  });
});
