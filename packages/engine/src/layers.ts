import { tf } from './runtime.js';

/**
 * Keras layers and operations that tfjs-layers 4.22 lacks, as tfjs layers: each has a static
 * `className`, is registered for (de)serialisation, and has both graph translations
 * (`graph/translate.ts` for inference, `graph/train.ts` for training).
 */

type Shape = (number | null)[];

const one = (inputs: tf.Tensor | tf.Tensor[]): tf.Tensor => (Array.isArray(inputs) ? inputs[0]! : inputs);

/** Keras' `backend.epsilon()`, the floor of Normalization's standard deviation. */
export const NORMALIZATION_EPSILON = 1e-7;

export interface NormalizationArgs {
  name?: string;
}

/**
 * `keras.layers.Normalization(axis=-1)` as EfficientNet uses it: `(x - mean) / max(sqrt(variance),
 * 1e-7)` per channel. Its state is three non-trainable weights, as in Keras: `mean` and `variance`
 * per channel and the sample `count` they were adapted on (a scalar, so 2c + 1 parameters).
 * Built fresh it is the identity (mean 0, variance 1, count 0), as Keras' is before `adapt`.
 */
export class Normalization extends tf.layers.Layer {
  static readonly className = 'Normalization';
  private mean?: tf.LayerVariable;
  private variance?: tf.LayerVariable;

  constructor(args: NormalizationArgs = {}) {
    super(args);
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const channels = shape.at(-1);
    if (typeof channels !== 'number') throw new Error(`Normalization ${this.name}: the last axis of [${shape.join(', ')}] must be known`);
    this.mean = this.addWeight('mean', [channels], 'float32', tf.initializers.zeros(), undefined, false);
    this.variance = this.addWeight('variance', [channels], 'float32', tf.initializers.ones(), undefined, false);
    this.addWeight('count', [], 'float32', tf.initializers.zeros(), undefined, false);
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs);
      const std = tf.maximum(tf.sqrt(this.variance!.read()), NORMALIZATION_EPSILON);
      return tf.div(tf.sub(x, this.mean!.read()), std);
    });
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return inputShape;
  }
}

export interface ConstantOpArgs {
  name?: string;
  value: number;
}

/**
 * Arithmetic with a constant, which Keras 3 records in a functional model as an operation (not a
 * layer): MobileNetV3's hard sigmoid is `ReLU(6.)(x + 3.) * (1. / 6.)`, two such operations
 * around a layer. Keras names them as layers (`add`, `multiply_1`, ...) and lists them in
 * `model.operations` but not in `model.layers` or weight files; they have no weights.
 */
abstract class ConstantOp extends tf.layers.Layer {
  readonly value: number;

  constructor({ value, ...args }: ConstantOpArgs) {
    super(args);
    this.value = value;
  }

  protected abstract apply1(x: tf.Tensor): tf.Tensor;

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => this.apply1(one(inputs)));
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), value: this.value };
  }
}

/** Keras' `x + value` on a tensor (the `ops.numpy.Add` operation with a constant). */
export class ScalarAdd extends ConstantOp {
  static readonly className = 'ScalarAdd';
  protected apply1(x: tf.Tensor): tf.Tensor {
    return tf.add(x, tf.scalar(this.value));
  }
}

/** Keras' `x * value` on a tensor (the `ops.numpy.Multiply` operation with a constant). */
export class ScalarMultiply extends ConstantOp {
  static readonly className = 'ScalarMultiply';
  protected apply1(x: tf.Tensor): tf.Tensor {
    return tf.mul(x, tf.scalar(this.value));
  }
}

/**
 * Keras' `hard_silu` (alias `hard_swish`), as its TensorFlow backend computes it:
 * `x * relu6(x + 3) / 6`. For `tf.layers.activation({ activation: 'hard_silu' })`.
 */
export class HardSilu extends tf.serialization.Serializable {
  static readonly className = 'hard_silu';
  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.mul(x, tf.div(tf.relu6(tf.add(x, tf.scalar(3))), tf.scalar(6))));
  }
  getConfig(): tf.serialization.ConfigDict {
    return {};
  }
}

/** Keras' `silu` (alias `swish`): `x * sigmoid(x)`, under Keras' serialised name. */
export class Silu extends tf.serialization.Serializable {
  static readonly className = 'silu';
  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
  }
  getConfig(): tf.serialization.ConfigDict {
    return {};
  }
}

export interface GlobalAveragePooling2DArgs {
  name?: string;
  keepDims?: boolean;
  dataFormat?: 'channelsLast';
}

/**
 * `GlobalAveragePooling2D` with Keras' `keepdims` (tfjs 4.22's ignores it): MobileNetV3's
 * squeeze-and-excite pools to [batch, 1, 1, channels]. Registered under tfjs' class name, so it
 * also loads saved models that use the plain layer (keepDims defaults to false).
 */
export class GlobalAveragePooling2D extends tf.layers.Layer {
  static readonly className = 'GlobalAveragePooling2D';
  readonly keepDims: boolean;

  constructor({ keepDims = false, dataFormat, ...args }: GlobalAveragePooling2DArgs = {}) {
    super(args);
    if (dataFormat !== undefined && dataFormat !== 'channelsLast') throw new Error(`GlobalAveragePooling2D ${this.name}: only channelsLast is supported, got ${String(dataFormat)}`);
    this.keepDims = keepDims;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.mean(one(inputs), [1, 2], this.keepDims));
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [batch, , , channels] = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return this.keepDims ? [batch ?? null, 1, 1, channels ?? null] : [batch ?? null, channels ?? null];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), dataFormat: 'channelsLast', keepDims: this.keepDims };
  }
}

for (const cls of [Normalization, ScalarAdd, ScalarMultiply, HardSilu, Silu, GlobalAveragePooling2D]) tf.serialization.registerClass(cls as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);
