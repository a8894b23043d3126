import type { Ops } from './optimizers.js';
import { tf } from './runtime.js';

/** The optimiser algebra in eager tfjs ops (TensorFlow's kernels one at a time); call inside tf.tidy. */
export const eagerOps: Ops<tf.Tensor> = {
  scalar: (value) => tf.scalar(value),
  add: (a, b) => tf.add(a, b),
  sub: (a, b) => tf.sub(a, b),
  mul: (a, b) => tf.mul(a, b),
  div: (a, b) => tf.div(a, b),
  pow: (a, b) => tf.pow(a, b),
  maximum: (a, b) => tf.maximum(a, b),
  sqrt: (a) => tf.sqrt(a),
  square: (a) => tf.square(a),
  norm: (a) => tf.sqrt(tf.sum(tf.square(a))),
};
