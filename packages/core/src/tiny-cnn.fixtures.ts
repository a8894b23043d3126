import { tf } from '@headbench/engine';
import { defineBackbone } from './define.js';

/**
 * A small real CNN with BatchNorm (8 channels at a quarter of the input size), seeded: the
 * backbone the fit loop's tests train on (trainer.test.ts, features.test.ts), so they test
 * convolutions, BatchNorm and a real head without downloading weights.
 */
export const tinyCnn = defineBackbone({
  meta: { name: 'tiny-cnn', version: '0.0.0' },
  schema: {},
  featureShape: (size) => [size / 4, size / 4, 8],
  preprocess: (images) => tf.tidy(() => images.div(127.5).sub(1)),
  async build({ inputSize, seed }) {
    const input = tf.input({ shape: [inputSize, inputSize, 3] });
    let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ epsilon: 1e-3, momentum: 0.9 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ maxValue: 6 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ maxValue: 6 }).apply(x) as tf.SymbolicTensor;
    return { model: tf.model({ inputs: input, outputs: x }), featureShape: [inputSize / 4, inputSize / 4, 8], weights: 'random' };
  },
});
