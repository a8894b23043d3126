import { createRequire } from 'node:module';
import { defineHead, tf, type HeadPlugin } from '@headbench/core';

// Results record the plugin version, so it is read from the package rather than copied here.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

const make = defineHead({
  meta: { name: 'gmp', version, description: 'GlobalMaxPooling2D + Dense(classes), logits' },
  // No options, like gap: the pair differs only in the pooling, which is the comparison.
  schema: {},
  build: (features, { classes, seed }) => {
    // Each channel's strongest response anywhere in the map, where gap takes the mean: the
    // gradient reaches one position per channel and image, not all of them.
    const pooled = tf.layers.globalMaxPooling2d({}).apply(features) as tf.SymbolicTensor;
    // One logit per class, no softmax: the trainer applies softmax cross-entropy.
    const logits = tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: 'zeros' });
    return logits.apply(pooled) as tf.SymbolicTensor;
  },
  paramCount: ([, , channels], classes) => channels * classes + classes,
});

/**
 * GlobalMaxPooling2D then Dense(classes) to logits: F*C + C parameters at any input size, the
 * same as gap's. Takes no options.
 */
export function gmp(options?: Parameters<typeof make>[0]): HeadPlugin {
  return make(options);
}

// headbench loads a plugin package through its default export (--plugin @headbench/heads-gmp).
export default gmp;
