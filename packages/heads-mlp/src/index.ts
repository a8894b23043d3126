import { createRequire } from 'node:module';
import { defineHead, tf, type HeadPlugin } from '@headbench/core';

// Results record the plugin version, so it is read from the package rather than copied here.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

const make = defineHead({
  meta: { name: 'mlp', version, description: 'GlobalAveragePooling2D + Dense(hidden) + BatchNorm + ReLU + Dropout + Dense(classes), logits' },
  schema: {
    hidden: { type: 'number', default: 256, integer: true, min: 1, max: 65536, description: 'units of the hidden Dense layer' },
    dropout: { type: 'number', default: 0, min: 0, max: 0.95, description: 'dropout rate after the hidden ReLU (0: none, and the training step stays one graph)' },
  },
  build: (features, { classes, seed }, { hidden, dropout }) => {
    // MMPretrain's StackedLinearClsHead with one mid layer: LinearBlock(Linear with bias, BN1d,
    // ReLU, Dropout), then the classifier. PyTorch's BatchNorm1d settings (eps 1e-5, momentum 0.1,
    // which is Keras' momentum 0.9), not Keras' defaults, as in the head being reproduced.
    // The pooled vector is held as a [1, 1, C] map and the hidden Linear is a 1x1 Conv2D (the
    // same function and parameters): the training graph differentiates BatchNormalization of
    // 4-D inputs only, so this way the whole head trains as one graph.
    let x = tf.layers.globalAveragePooling2d({}).apply(features) as tf.SymbolicTensor;
    x = tf.layers.reshape({ targetShape: [1, 1, x.shape[1]!] }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters: hidden, kernelSize: 1, kernelInitializer: tf.initializers.heNormal({ seed: seed + 1 }), biasInitializer: 'zeros' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ epsilon: 1e-5, momentum: 0.9 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.activation({ activation: 'relu' }).apply(x) as tf.SymbolicTensor;
    // Only when asked: a Dropout with a rate makes the training step eager (README, Engine).
    if (dropout > 0) x = tf.layers.dropout({ rate: dropout, seed: seed + 2 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.flatten({}).apply(x) as tf.SymbolicTensor;
    // One logit per class, no softmax: the trainer applies softmax cross-entropy.
    const logits = tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: 'zeros' });
    return logits.apply(x) as tf.SymbolicTensor;
  },
  // Dense C -> h with bias, BatchNorm's gamma, beta and two moving statistics, Dense h -> K.
  paramCount: ([, , channels], classes, { hidden }) => channels * hidden + hidden + 4 * hidden + hidden * classes + classes,
});

/**
 * GAP, then a hidden Dense + BatchNorm + ReLU (+ Dropout), then Dense(classes) to logits:
 * Ch + h + 4h + hK + K parameters at any input size.
 */
export function mlp(options?: Parameters<typeof make>[0]): HeadPlugin {
  return make(options);
}

// headbench loads a plugin package through its default export (--plugin @headbench/heads-mlp).
export default mlp;
