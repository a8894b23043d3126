import { createRequire } from 'node:module';
import { defineHead, tf, type HeadPlugin } from '@headbench/core';

// Results record the plugin version, so it is read from the package rather than copied here.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

type Shape = (number | null)[];
const one = (inputs: tf.Tensor | tf.Tensor[]): tf.Tensor => (Array.isArray(inputs) ? inputs[0]! : inputs);

/** Inside the signed square root, sign(g) sqrt(|g| + eps), which bounds its gradient at 0. */
export const SQRT_EPSILON = 1e-5;

/**
 * Bilinear pooling (Lin, RoyChowdhury and Maji 2015): the mean over positions of the outer
 * product of each position's d features with themselves ([batch, d * d], row-major), then the
 * signed square root and L2 normalisation. No weights. Only the forward pass, in tfjs ops.
 */
export class BilinearPooling2D extends tf.layers.Layer {
  static readonly className = 'BilinearPooling2D';

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs);
      // -1 for the batch, so the ops do not depend on a batch size a tracer may not know.
      const [, height, width, d] = x.shape as number[];
      const z = tf.reshape(x, [-1, height! * width!, d!]);
      const gram = tf.div(tf.matMul(z, z, true, false), height! * width!);
      const g = tf.reshape(gram, [-1, d! * d!]);
      const y = tf.mul(tf.sign(g), tf.sqrt(tf.add(tf.abs(g), SQRT_EPSILON)));
      // PyTorch's F.normalize: y / max(||y||, 1e-12).
      return tf.div(y, tf.maximum(tf.norm(y, 'euclidean', 1, true), 1e-12));
    });
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [batch, , , d] = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [batch ?? null, typeof d === 'number' ? d * d : null];
  }
}
tf.serialization.registerClass(BilinearPooling2D);

const make = defineHead({
  meta: { name: 'bilinear', version, description: '1x1 Conv2D to d channels + bilinear pooling (signed sqrt, L2) + Dense(classes), logits' },
  schema: {
    d: { type: 'number', default: 64, integer: true, min: 1, max: 512, description: 'channels of the 1x1 convolution before the outer product (d^2 pooled features)' },
  },
  build: (features, { classes, seed }, { d }) => {
    // Reduce C to d channels first (a linear 1x1 convolution with bias), as compact bilinear
    // heads do: the outer product of C = 1280 channels would give 1.6M features.
    const reduced = tf.layers.conv2d({ filters: d, kernelSize: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }), biasInitializer: 'zeros' }).apply(features) as tf.SymbolicTensor;
    const pooled = new BilinearPooling2D({}).apply(reduced) as tf.SymbolicTensor;
    // One logit per class, no softmax: the trainer applies softmax cross-entropy.
    const logits = tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: 'zeros' });
    return logits.apply(pooled) as tf.SymbolicTensor;
  },
  // The 1x1 convolution, and the classifier on d^2 features.
  paramCount: ([, , channels], classes, { d }) => channels * d + d + d * d * classes + classes,
});

/**
 * A 1x1 convolution to d channels, bilinear pooling with signed square root and L2
 * normalisation, then Dense(classes) to logits: Cd + d + d^2 K + K parameters at any input size.
 */
export function bilinear(options?: Parameters<typeof make>[0]): HeadPlugin {
  return make(options);
}

// headbench loads a plugin package through its default export (--plugin @headbench/heads-bilinear).
export default bilinear;
