import { createRequire } from 'node:module';
import { defineHead, tf, type HeadPlugin } from '@headbench/core';

// Results record the plugin version, so it is read from the package rather than copied here.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

const make = defineHead({
  meta: { name: 'avgmax', version, description: 'concatenated GlobalAveragePooling2D and GlobalMaxPooling2D + Dense(classes), logits' },
  // No options, like gap and gmp: the three differ only in the pooling.
  schema: {},
  build: (features, { classes, featureShape, seed }) => {
    const channels = featureShape[2];
    // Dense(classes) on concat([mean, max]) (timm's catavgmax order) is mean @ Ka + max @ Km + b,
    // Ka and Km the kernel's two halves. Built that way, as two Dense layers and an Add, because
    // the graph engine translates Dense and Add but has no Concatenate: the head then runs on
    // the graph for inference and training. The same function and parameters as one Dense on
    // the concatenation (reference.test.ts checks it against NumPy's concatenation).
    const mean = tf.layers.globalAveragePooling2d({}).apply(features) as tf.SymbolicTensor;
    const max = tf.layers.globalMaxPooling2d({}).apply(features) as tf.SymbolicTensor;
    // Glorot-uniform for the whole [2C, K] kernel: the limit sqrt(6 / (2C + K)), which for a
    // [C, K] half is variance scaling with fan_avg and scale (C + K) / (2C + K).
    const half = (s: number) => tf.initializers.varianceScaling({ scale: (channels + classes) / (2 * channels + classes), mode: 'fanAvg', distribution: 'uniform', seed: s });
    const fromMean = tf.layers.dense({ units: classes, kernelInitializer: half(seed), biasInitializer: 'zeros' }).apply(mean) as tf.SymbolicTensor;
    const fromMax = tf.layers.dense({ units: classes, useBias: false, kernelInitializer: half(seed + 1) }).apply(max) as tf.SymbolicTensor;
    // One logit per class, no softmax: the trainer applies softmax cross-entropy.
    return tf.layers.add({}).apply([fromMean, fromMax]) as tf.SymbolicTensor;
  },
  paramCount: ([, , channels], classes) => 2 * channels * classes + classes,
});

/**
 * The mean and the maximum of each channel, concatenated, then Dense(classes) to logits:
 * 2CK + K parameters at any input size. Takes no options.
 */
export function avgmax(options?: Parameters<typeof make>[0]): HeadPlugin {
  return make(options);
}

// headbench loads a plugin package through its default export (--plugin @headbench/heads-avgmax).
export default avgmax;
