import { createRequire } from 'node:module';
import { defineHead, tf, type HeadPlugin } from '@headbench/core';

// Results record the plugin version, so it is read from the package rather than copied here.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

const make = defineHead({
  meta: { name: 'gdconv', version, description: 'global depthwise convolution (an H x W depthwise kernel) + BatchNorm + Dense(classes), logits' },
  schema: {},
  build: (features, { classes, featureShape, seed }) => {
    const [height, width] = featureShape;
    // MobileFaceNets' GDConv: a depthwise kernel as large as the map, valid padding, no bias, so
    // each channel is pooled with a learned weight per position instead of GAP's 1 / HW; then
    // BatchNorm (PyTorch's eps 1e-5 and momentum 0.1, as the MobileFaceNets implementations).
    let x = tf.layers.depthwiseConv2d({ kernelSize: [height, width], padding: 'valid', useBias: false, depthwiseInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }).apply(features) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ epsilon: 1e-5, momentum: 0.9 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.flatten({}).apply(x) as tf.SymbolicTensor;
    // One logit per class, no softmax: the trainer applies softmax cross-entropy.
    const logits = tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: 'zeros' });
    return logits.apply(x) as tf.SymbolicTensor;
  },
  // The H x W x C depthwise kernel, BatchNorm's four vectors, the classifier.
  paramCount: ([height, width, channels], classes) => height * width * channels + 4 * channels + channels * classes + classes,
});

/**
 * A global depthwise convolution (one H x W kernel per channel) and BatchNorm in place of GAP,
 * then Dense(classes) to logits: HWC + 4C + CK + K parameters, which grow with the input size.
 */
export function gdconv(options?: Parameters<typeof make>[0]): HeadPlugin {
  return make(options);
}

// headbench loads a plugin package through its default export (--plugin @headbench/heads-gdconv).
export default gdconv;
