import { createRequire } from 'node:module';
import { defineHead, tf, UsageError, type HeadPlugin } from '@headbench/core';

// Results record the plugin version, so it is read from the package rather than copied here.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

type Shape = (number | null)[];
const one = (inputs: tf.Tensor | tf.Tensor[]): tf.Tensor => (Array.isArray(inputs) ? inputs[0]! : inputs);

export interface AttentionPoolingArgs {
  name?: string;
  /** Attention heads; must divide the channels. */
  heads: number;
  /** Seeds the initialisers (the positional embedding and the three projections). */
  seed?: number;
}

/**
 * CLIP's AttentionPool2d (Radford et al. 2021, `clip/model.py`) up to its output projection: the
 * map's positions become HW tokens, their mean is prepended as a token of its own, a learned
 * positional embedding ([HW + 1, C]) is added, and the mean token alone queries all HW + 1 tokens
 * with multi-head attention (query, key and value projections C -> C with biases). The output is
 * the concatenated heads, [batch, C]; CLIP's output projection `c_proj` follows as a Dense layer.
 * Weights, in order: positional, queryKernel, queryBias, keyKernel, keyBias, valueKernel,
 * valueBias (kernels [in, out]). Only the forward pass, in tfjs ops; tfjs differentiates it.
 */
export class AttentionPool2d extends tf.layers.Layer {
  static readonly className = 'AttentionPool2d';
  readonly heads: number;
  readonly seed: number | undefined;
  private w: tf.LayerVariable[] = [];

  constructor({ heads, seed, ...args }: AttentionPoolingArgs) {
    super(args);
    this.heads = heads;
    this.seed = seed;
  }

  override build(inputShape: Shape | Shape[]): void {
    const [, height, width, channels] = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    if (typeof height !== 'number' || typeof width !== 'number' || typeof channels !== 'number') {
      throw new Error(`AttentionPool2d ${this.name}: the feature map [${String(height)}, ${String(width)}, ${String(channels)}] must be known (the positional embedding has one row per position)`);
    }
    const s = this.seed ?? 0;
    // CLIP: torch.randn(HW + 1, C) / C ** 0.5 for the positions.
    this.w = [this.addWeight('positional', [height * width + 1, channels], 'float32', tf.initializers.randomNormal({ stddev: channels ** -0.5, seed: s }))];
    ['query', 'key', 'value'].forEach((name, i) => {
      this.w.push(this.addWeight(`${name}Kernel`, [channels, channels], 'float32', tf.initializers.glorotUniform({ seed: s + 1 + i })));
      this.w.push(this.addWeight(`${name}Bias`, [channels], 'float32', tf.initializers.zeros()));
    });
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs);
      // Reshapes use -1 for the batch, so the ops do not depend on a batch size a tracer may not know.
      const [, height, width, channels] = x.shape as number[];
      const tokens = height! * width! + 1;
      const headDim = channels! / this.heads;
      const [positional, qk, qb, kk, kb, vk, vb] = this.w.map((v) => v.read());
      // [batch, HW, C] in row-major position order, with the mean token first, plus positions.
      const flat = tf.reshape(x, [-1, tokens - 1, channels!]);
      const t = tf.add(tf.concat([tf.mean(flat, 1, true), flat], 1), positional!);
      const project = (input: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor) =>
        tf.add(tf.matMul(tf.reshape(input, [-1, channels!]), kernel), bias);
      // [batch, heads, n, headDim] for each of query (the mean token alone), key and value.
      const split = (y: tf.Tensor, n: number) => tf.transpose(tf.reshape(y, [-1, n, this.heads, headDim]), [0, 2, 1, 3]);
      const q = split(project(tf.slice(t, [0, 0, 0], [-1, 1, -1]), qk!, qb!), 1);
      const k = split(project(t, kk!, kb!), tokens);
      const v = split(project(t, vk!, vb!), tokens);
      const scores = tf.div(tf.matMul(q, k, false, true), Math.sqrt(headDim));
      const attended = tf.matMul(tf.softmax(scores), v); // [batch, heads, 1, headDim]
      return tf.reshape(attended, [-1, channels!]);
    });
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [batch, , , channels] = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [batch ?? null, channels ?? null];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), heads: this.heads, ...(this.seed !== undefined && { seed: this.seed }) };
  }
}
tf.serialization.registerClass(AttentionPool2d);

const make = defineHead({
  meta: { name: 'attention', version, description: "CLIP's attention pooling (the mean token queries every position) + Dense(classes), logits" },
  schema: {
    heads: { type: 'number', default: 8, integer: true, min: 1, max: 1024, description: 'attention heads; must divide the feature channels' },
  },
  build: (features, { classes, featureShape, seed }, { heads }) => {
    const channels = featureShape[2];
    if (channels % heads !== 0) {
      throw new UsageError(`attention: heads=${heads} does not divide the feature channels (${channels}, features [${featureShape.join(', ')}]); pick heads among the divisors of ${channels}`);
    }
    const attended = new AttentionPool2d({ heads, seed: seed + 1 }).apply(features) as tf.SymbolicTensor;
    // CLIP's c_proj with output_dim = classes: the output projection is the classifier, logits.
    const logits = tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: 'zeros' });
    return logits.apply(attended) as tf.SymbolicTensor;
  },
  // Positions, the query/key/value projections, and c_proj (= the classifier).
  paramCount: ([height, width, channels], classes) => (height * width + 1) * channels + 3 * (channels * channels + channels) + channels * classes + classes,
});

/**
 * CLIP's AttentionPool2d with its output projection as the classifier:
 * (HW+1)C + 3(C^2+C) + CK + K parameters, growing with the input size.
 */
export function attention(options?: Parameters<typeof make>[0]): HeadPlugin {
  return make(options);
}

// headbench loads a plugin package through its default export (--plugin @headbench/heads-attention).
export default attention;
