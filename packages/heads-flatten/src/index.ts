import { createRequire } from 'node:module';
import { defineHead, tf, type HeadPlugin } from '@headbench/core';

// Results record the plugin version, so it is read from the package rather than copied here.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

const make = defineHead({
  meta: { name: 'flatten', version, description: 'Flatten + Dense(classes), logits' },
  schema: {},
  // Layer names are left to tfjs, which makes them unique, so two heads can share one model.
  build: (features, { classes, seed }) => {
    const flat = tf.layers.flatten({}).apply(features) as tf.SymbolicTensor;
    const dense = tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: 'zeros' });
    return dense.apply(flat) as tf.SymbolicTensor;
  },
  paramCount: ([height, width, channels], classes) => height * width * channels * classes + classes,
});

/**
 * Flatten then Dense(classes) to logits: H*W*F*C + C parameters, 49 times GAP's at 7x7. The head
 * that collapses at learning rates GAP trains well at; it takes no options.
 */
export function flatten(options?: Parameters<typeof make>[0]): HeadPlugin {
  return make(options);
}

export default flatten;
