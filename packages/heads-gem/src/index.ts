import { createRequire } from 'node:module';
import { defineHead, tf, type HeadPlugin } from '@headbench/core';

// Results record the plugin version, so it is read from the package rather than copied here.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

type Shape = (number | null)[];
const one = (inputs: tf.Tensor | tf.Tensor[]): tf.Tensor => (Array.isArray(inputs) ? inputs[0]! : inputs);

/** The floor GeM clamps features to before the power (Radenovic et al.'s code: `x.clamp(min=eps)`). */
export const GEM_EPSILON = 1e-6;

export interface GeneralizedMeanPoolingArgs {
  name?: string;
  /** The starting exponent (3 in the paper). */
  p?: number;
}

/**
 * Generalised-mean pooling, `(mean over positions of max(x, eps)^p)^(1/p)` per channel, with one
 * learned exponent `p` for all channels (weight `p`, shape [1]): p = 1 is average pooling, and
 * p -> infinity tends to max pooling. Only the forward pass, in tfjs ops; tfjs differentiates it.
 */
export class GeneralizedMeanPooling2D extends tf.layers.Layer {
  static readonly className = 'GeneralizedMeanPooling2D';
  readonly pInit: number;
  private p?: tf.LayerVariable;

  constructor({ p = 3, ...args }: GeneralizedMeanPoolingArgs = {}) {
    super(args);
    this.pInit = p;
  }

  override build(): void {
    this.p = this.addWeight('p', [1], 'float32', tf.initializers.constant({ value: this.pInit }), undefined, true);
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const p = this.p!.read();
      const x = tf.maximum(one(inputs), GEM_EPSILON);
      // Computed as m * (mean (x/m)^p)^(1/p), m the channel's maximum: the same value, but the
      // powers stay in (0, 1], where x^p itself overflows float32 (20^30 does) as p is learned.
      const m = tf.max(x, [1, 2], true);
      const pooled = tf.pow(tf.mean(tf.pow(tf.div(x, m), p), [1, 2]), tf.reciprocal(p));
      return tf.mul(pooled, tf.squeeze(m, [1, 2]));
    });
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [batch, , , channels] = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [batch ?? null, channels ?? null];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), p: this.pInit };
  }
}
tf.serialization.registerClass(GeneralizedMeanPooling2D);

const make = defineHead({
  meta: { name: 'gem', version, description: 'generalised-mean pooling with a learned exponent + Dense(classes), logits' },
  schema: {
    p: { type: 'number', default: 3, min: 1, max: 100, description: 'starting value of the learned exponent p (1: average pooling)' },
  },
  build: (features, { classes, seed }, { p }) => {
    // Radenovic et al. 2018: GeM pooling, p learned from 3, then the classifier.
    const pooled = new GeneralizedMeanPooling2D({ p }).apply(features) as tf.SymbolicTensor;
    // One logit per class, no softmax: the trainer applies softmax cross-entropy.
    const logits = tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: 'zeros' });
    return logits.apply(pooled) as tf.SymbolicTensor;
  },
  // The classifier and the one exponent.
  paramCount: ([, , channels], classes) => channels * classes + classes + 1,
});

/**
 * Generalised-mean (GeM) pooling with a learned exponent p (from 3), then Dense(classes) to
 * logits: CK + K + 1 parameters at any input size.
 */
export function gem(options?: Parameters<typeof make>[0]): HeadPlugin {
  return make(options);
}

// headbench loads a plugin package through its default export (--plugin @headbench/heads-gem).
export default gem;
