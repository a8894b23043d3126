import { createRequire } from 'node:module';
import { defineHead, tf, type HeadPlugin } from '@headbench/core';

// Results record the plugin version, so it is read from the package rather than copied here.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/** The bottleneck's width: C / r (Hu et al.), at least one unit for maps of fewer than r channels. */
const squeezed = (channels: number, reduction: number) => Math.max(1, Math.floor(channels / reduction));

const make = defineHead({
  meta: { name: 'se', version, description: 'squeeze-and-excitation gate on the feature map + GlobalAveragePooling2D + Dense(classes), logits' },
  schema: {
    reduction: { type: 'number', default: 16, integer: true, min: 1, max: 4096, description: 'reduction ratio r of the gate: its bottleneck has C / r units' },
  },
  build: (features, { classes, featureShape, seed }, { reduction }) => {
    const channels = featureShape[2];
    // Hu et al. 2018, the SE block: squeeze (GAP), excite (Dense C/r + ReLU, Dense C + sigmoid),
    // scale the map channel by channel; then the classifier on the recalibrated map's mean.
    const squeeze = tf.layers.globalAveragePooling2d({}).apply(features) as tf.SymbolicTensor;
    let gate = tf.layers.dense({ units: squeezed(channels, reduction), activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: seed + 1 }) }).apply(squeeze) as tf.SymbolicTensor;
    gate = tf.layers.dense({ units: channels, activation: 'sigmoid', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 2 }) }).apply(gate) as tf.SymbolicTensor;
    gate = tf.layers.reshape({ targetShape: [1, 1, channels] }).apply(gate) as tf.SymbolicTensor;
    // Multiply broadcasts the [1, 1, C] gate over the map, as in MobileNetV3's and EfficientNet's SE.
    const scaled = tf.layers.multiply({}).apply([features, gate]) as tf.SymbolicTensor;
    const pooled = tf.layers.globalAveragePooling2d({}).apply(scaled) as tf.SymbolicTensor;
    // One logit per class, no softmax: the trainer applies softmax cross-entropy.
    const logits = tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: 'zeros' });
    return logits.apply(pooled) as tf.SymbolicTensor;
  },
  // With m = C / r: the two gate layers (Cm + m, mC + C) and the classifier (CK + K).
  paramCount: ([, , channels], classes, { reduction }) => {
    const m = squeezed(channels, reduction);
    return 2 * channels * m + m + channels + channels * classes + classes;
  },
});

/**
 * A squeeze-and-excitation gate (bottleneck C / r) rescales the map's channels, then GAP and
 * Dense(classes) to logits: 2C^2/r + C/r + C + CK + K parameters at any input size.
 */
export function se(options?: Parameters<typeof make>[0]): HeadPlugin {
  return make(options);
}

// headbench loads a plugin package through its default export (--plugin @headbench/heads-se).
export default se;
