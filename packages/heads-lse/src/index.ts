import { createRequire } from 'node:module';
import { defineHead, tf, type HeadPlugin } from '@headbench/core';

// Results record the plugin version, so it is read from the package rather than copied here.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

type Shape = (number | null)[];
const one = (inputs: tf.Tensor | tf.Tensor[]): tf.Tensor => (Array.isArray(inputs) ? inputs[0]! : inputs);

export interface LogSumExpPoolingArgs {
  name?: string;
  /** The sharpness r: small is average pooling, large is max pooling. */
  r?: number;
}

/**
 * Log-sum-exp pooling, `(1/r) log(mean over positions of exp(r x))` per channel, with a fixed
 * sharpness r (no weights). Computed with tfjs' stable logSumExp, as
 * `(logsumexp(r x) - log(HW)) / r`. Only the forward pass; tfjs differentiates it.
 */
export class LogSumExpPooling2D extends tf.layers.Layer {
  static readonly className = 'LogSumExpPooling2D';
  readonly r: number;

  constructor({ r = 10, ...args }: LogSumExpPoolingArgs = {}) {
    super(args);
    this.r = r;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs);
      const positions = (x.shape[1] ?? 1) * (x.shape[2] ?? 1);
      return tf.div(tf.sub(tf.logSumExp(tf.mul(x, this.r), [1, 2]), Math.log(positions)), this.r);
    });
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [batch, , , channels] = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [batch ?? null, channels ?? null];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), r: this.r };
  }
}
tf.serialization.registerClass(LogSumExpPooling2D);

const make = defineHead({
  meta: { name: 'lse', version, description: 'log-sum-exp pooling + Dense(classes), logits' },
  schema: {
    r: { type: 'number', default: 10, min: 0.001, max: 1000, description: 'sharpness r of the pooling: near 0 it averages, large it takes the maximum' },
  },
  build: (features, { classes, seed }, { r }) => {
    // Pinheiro and Collobert 2015: LSE pooling over the map, then the classifier.
    const pooled = new LogSumExpPooling2D({ r }).apply(features) as tf.SymbolicTensor;
    // One logit per class, no softmax: the trainer applies softmax cross-entropy.
    const logits = tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: 'zeros' });
    return logits.apply(pooled) as tf.SymbolicTensor;
  },
  paramCount: ([, , channels], classes) => channels * classes + classes,
});

/**
 * Log-sum-exp pooling with sharpness r (default 10), then Dense(classes) to logits: CK + K
 * parameters at any input size.
 */
export function lse(options?: Parameters<typeof make>[0]): HeadPlugin {
  return make(options);
}

// headbench loads a plugin package through its default export (--plugin @headbench/heads-lse).
export default lse;
