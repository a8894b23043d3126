import { GlobalAveragePooling2D, HardSilu, Normalization, ScalarAdd, ScalarMultiply, tf } from '@headbench/core';
import { batchNormalization } from './batch-norm.js';
import { layerSeed } from './seed.js';

export type T = tf.SymbolicTensor;
export type Padding2D = [[number, number], [number, number]];

void HardSilu; // registers Keras' `hard_silu` and `silu` activations with tfjs

/** The initialisers Keras' architecture files use for convolution kernels. */
export type KernelInit = 'glorot_uniform' | 'efficientnet';

export interface ConvOptions {
  kernelSize: number;
  strides?: number;
  padding?: 'same' | 'valid';
  useBias?: boolean;
  activation?: string;
}

/**
 * The Keras layers the backbones are made of, with Keras' defaults and names. A layer Keras
 * names itself (`layers.ReLU()(x)` in mobilenet_v3.py) gets the name a fresh Keras session gives
 * it: the snake-case class name, then `_1`, `_2`, ... in build order (`re_lu`, `re_lu_1`,
 * `activation_3`). Every initialiser is seeded from the build seed and the layer's name.
 */
export function kerasLayers(seed: number, kernelInit: KernelInit = 'glorot_uniform') {
  const counts = new Map<string, number>();
  const auto = (base: string, name?: string) => {
    if (name) return name;
    const n = counts.get(base) ?? 0;
    counts.set(base, n + 1);
    return n === 0 ? base : `${base}_${n}`;
  };
  const apply = (layer: tf.layers.Layer, x: T | T[]) => layer.apply(x) as T;
  // EfficientNet's CONV_KERNEL_INITIALIZER: VarianceScaling(2.0, fan_out, truncated_normal).
  const kernel = (name: string) =>
    kernelInit === 'efficientnet'
      ? tf.initializers.varianceScaling({ scale: 2, mode: 'fanOut', distribution: 'truncatedNormal', seed: layerSeed(seed, name) })
      : tf.initializers.glorotUniform({ seed: layerSeed(seed, name) });
  return {
    input: (size: number) => tf.input({ shape: [size, size, 3], name: auto('input_layer') }),
    conv: (x: T, name: string, filters: number, { kernelSize, strides = 1, padding = 'valid', useBias = true, activation }: ConvOptions) =>
      apply(tf.layers.conv2d({ name, filters, kernelSize, strides, padding, useBias, activation: activation as never, kernelInitializer: kernel(name) }), x),
    depthwise: (x: T, name: string, { kernelSize, strides = 1, padding = 'valid' }: Omit<ConvOptions, 'useBias' | 'activation'>) =>
      apply(tf.layers.depthwiseConv2d({ name, kernelSize, strides, padding, useBias: false, depthwiseInitializer: kernel(name) }), x),
    bn: (x: T, name: string, options?: { epsilon?: number; momentum?: number }) => apply(batchNormalization(name, options), x),
    relu: (x: T, name?: string, maxValue?: number) => apply(tf.layers.reLU({ name: auto('re_lu', name), ...(maxValue === undefined ? {} : { maxValue }) }), x),
    activation: (x: T, activation: string, name?: string) => apply(tf.layers.activation({ name: auto('activation', name), activation: activation as never }), x),
    pad: (x: T, padding: Padding2D, name?: string) => apply(tf.layers.zeroPadding2d({ name: auto('zero_padding2d', name), padding }), x),
    add: (xs: T[], name?: string) => apply(tf.layers.add({ name: auto('add', name) }), xs),
    multiply: (xs: T[], name?: string) => apply(tf.layers.multiply({ name: auto('multiply', name) }), xs),
    gap: (x: T, name: string, keepDims = false) => apply(new GlobalAveragePooling2D({ name, keepDims }), x),
    reshape: (x: T, name: string, targetShape: number[]) => apply(tf.layers.reshape({ name, targetShape }), x),
    maxPool: (x: T, poolSize: number, strides: number, name?: string) => apply(tf.layers.maxPooling2d({ name: auto('max_pooling2d', name), poolSize, strides, padding: 'valid' }), x),
    dropout: (x: T, name: string, rate: number, noiseShape?: (number | null)[]) => apply(tf.layers.dropout({ name, rate, ...(noiseShape ? { noiseShape: noiseShape as number[] } : {}) }), x),
    rescaling: (x: T, scale: number | number[], offset = 0, name?: string) => apply(tf.layers.rescaling({ name: auto('rescaling', name), scale: scale as number, offset }), x),
    normalization: (x: T, name?: string) => apply(new Normalization({ name: auto('normalization', name) }), x),
    /** Keras 3 `x + value`: an operation, named like a layer from the same counter (`add`, `add_1`). */
    plus: (x: T, value: number) => apply(new ScalarAdd({ name: auto('add'), value }), x),
    /** Keras 3 `x * value`: an operation (`multiply`, `multiply_1`, ...). */
    times: (x: T, value: number) => apply(new ScalarMultiply({ name: auto('multiply'), value }), x),
  };
}

export type KerasLayers = ReturnType<typeof kerasLayers>;

/**
 * Keras' `imagenet_utils.correct_pad`: the explicit padding before a strided 'valid' convolution
 * that makes it agree with TensorFlow's 'same' on every backend.
 */
export function correctPad(size: number, kernelSize: number): Padding2D {
  const adjust = 1 - (size % 2);
  const correct = Math.floor(kernelSize / 2);
  return [
    [correct - adjust, correct],
    [correct - adjust, correct],
  ];
}

export function channels(x: T): number {
  const c = x.shape[3];
  if (typeof c !== 'number') throw new Error(`expected a known channel count, got shape [${x.shape.join(', ')}]`);
  return c;
}

export function spatialSize(x: T): number {
  const h = x.shape[1];
  if (typeof h !== 'number') throw new Error(`expected a known spatial size, got shape [${x.shape.join(', ')}]`);
  return h;
}

/** Output size of a 'valid' window of `k` with stride `s`, and of 'same' with stride `s`. */
export const validSize = (n: number, k: number, s: number) => Math.floor((n - k) / s) + 1;
export const sameSize = (n: number, s: number) => Math.ceil(n / s);
