import { tf } from '../runtime.js';

/**
 * Two pooling heads written as custom `tf.layers.Layer`s with ordinary tfjs ops and no graph
 * translation of their own: the traced translation (trace.ts) is what runs them on the graph.
 * Used by trace.test.ts and tools/bench-traced (the step time against GlobalAveragePooling2D).
 */

/** Generalised mean pooling (GeM): (mean over h, w of max(x, eps)^p)^(1/p) with a learnable p. */
export class GeMPooling extends tf.layers.Layer {
  static className = 'TestGeMPooling';
  private p!: tf.LayerVariable;

  override build(): void {
    this.p = this.addWeight('p', [1], 'float32', tf.initializers.constant({ value: 3 }));
    this.built = true;
  }

  override computeOutputShape(shape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = shape as tf.Shape;
    return [s[0]!, s[3]!];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const p = this.p.read();
      return tf.pow(tf.mean(tf.pow(tf.maximum(x, 1e-6), p), [1, 2]), tf.div(1, p));
    });
  }
}

/** Softmax attention pooling: a learnt score per position, softmax over the positions, the weighted sum of the features. */
export class AttentionPooling extends tf.layers.Layer {
  static className = 'TestAttentionPooling';
  private w!: tf.LayerVariable;

  override build(shape: tf.Shape | tf.Shape[]): void {
    const channels = (shape as tf.Shape)[3]!;
    this.w = this.addWeight('score', [channels, 1], 'float32', tf.initializers.glorotUniform({ seed: 4 }));
    this.built = true;
  }

  override computeOutputShape(shape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = shape as tf.Shape;
    return [s[0]!, s[3]!];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const [, h, w, c] = x.shape as number[];
      const flat = tf.reshape(x, [-1, h! * w!, c!]);
      // A 2-D product: tfjs' gradient of a broadcast batched matMul fails on its shapes.
      const scores = tf.reshape(tf.matMul(tf.reshape(x, [-1, c!]), this.w.read()), [-1, h! * w!]);
      const weights = tf.expandDims(tf.softmax(scores), 2);
      return tf.sum(tf.mul(flat, weights), 1);
    });
  }
}

/** A head on a feature map of `shape`: the pooling layer, then Dense logits. */
export function pooledHead(pool: 'gem' | 'attention' | 'gap', shape: [number, number, number], classes: number, seed = 1, convFirst = false): tf.LayersModel {
  const input = tf.input({ shape });
  const layer = pool === 'gem' ? new GeMPooling({}) : pool === 'attention' ? new AttentionPooling({}) : tf.layers.globalAveragePooling2d({});
  // A trainable convolution before the pooling makes the traced layer's input gradient needed.
  const features = convFirst ? (tf.layers.conv2d({ filters: shape[2], kernelSize: 1, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }), biasInitializer: 'ones' }).apply(input) as tf.SymbolicTensor) : input;
  const pooled = layer.apply(features) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(pooled) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}
