import { tf } from '@headbench/core';

/** Who the weights are for, so that errors can say what would have fitted. */
export interface LoadTarget {
  model: tf.LayersModel;
  /** The model in words, e.g. `mobilenetv2 alpha 0.5`. */
  label: string;
  /** Said after a shape mismatch, e.g. that the file is probably for another alpha. */
  mismatchHint: string;
}

/** A model weight under the name weight files use: `<layer>/<weight>`, e.g. `bn_Conv1/gamma`. */
export interface NamedWeight {
  layer: string;
  /** `kernel`, `depthwise_kernel`, `gamma`, ... */
  weight: string;
  variable: tf.LayerVariable;
}

/**
 * The model's weights by layer and short name. tfjs makes variable names unique per process (a
 * second model's kernel is `Conv1/kernel_1`), so the global name is useless for matching; the
 * layer's name and the last part of `originalName` are what a weights file knows.
 */
export function namedWeights(layer: tf.layers.Layer): NamedWeight[] {
  return layer.weights.map((variable) => ({ layer: layer.name, weight: variable.originalName.split('/').pop() ?? variable.originalName, variable }));
}

export function formatShape(shape: readonly (number | null)[]): string {
  return `[${shape.join(', ')}]`;
}

export function sameShape(a: readonly (number | null)[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Writes every value, after all were checked, so that a failed load never leaves a half-loaded model. */
export function assignAll(pairs: readonly { variable: tf.LayerVariable; value: tf.Tensor }[]): void {
  for (const { variable, value } of pairs) variable.write(value);
}
