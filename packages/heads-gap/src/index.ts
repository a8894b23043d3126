import { createRequire } from 'node:module';
import { defineHead, tf, type HeadPlugin } from '@headbench/core';

// Results record the plugin version, so it is read from the package rather than copied here.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

const make = defineHead({
  meta: { name: 'gap', version, description: 'GlobalAveragePooling2D + Dense(classes), logits' },
  schema: {},
  // Layer names are left to tfjs, which makes them unique, so two heads can share one model.
  build: (features, { classes, seed }) => {
    const pooled = tf.layers.globalAveragePooling2d({}).apply(features) as tf.SymbolicTensor;
    const dense = tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: 'zeros' });
    return dense.apply(pooled) as tf.SymbolicTensor;
  },
  paramCount: ([, , channels], classes) => channels * classes + classes,
});

/**
 * GlobalAveragePooling2D then Dense(classes) to logits: F*C + C parameters at any input size.
 * Takes no options; the head is the experiment's control.
 */
export function gap(options?: Parameters<typeof make>[0]): HeadPlugin {
  return make(options);
}

export default gap;
