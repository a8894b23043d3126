import { tf, UsageError, type FeatureShape } from '@headbench/core';
import { batchNormalization } from './batch-norm.js';
import { makeDivisible } from './make-divisible.js';
import { layerSeed } from './seed.js';

type T = tf.SymbolicTensor;

/**
 * The body of MobileNetV2 as the paper's Table 2 gives it: each row is `n` inverted residual
 * blocks with expansion factor `t` and `c` output channels (before alpha); the first block of a
 * row has stride `s`. Keras numbers the 17 blocks 0..16 in this order.
 */
export const BODY = [
  { t: 1, c: 16, n: 1, s: 1 },
  { t: 6, c: 24, n: 2, s: 2 },
  { t: 6, c: 32, n: 3, s: 2 },
  { t: 6, c: 64, n: 4, s: 2 },
  { t: 6, c: 96, n: 3, s: 1 },
  { t: 6, c: 160, n: 3, s: 2 },
  { t: 6, c: 320, n: 1, s: 1 },
] as const;

/** Keras' minimum for `weights=None`; below it the last blocks would see a zero-sized map. */
export const MIN_INPUT_SIZE = 32;

export function checkInputSize(inputSize: number): void {
  if (!Number.isInteger(inputSize) || inputSize < MIN_INPUT_SIZE) {
    throw new UsageError(`mobilenetv2: input size ${inputSize} is not supported; MobileNetV2 takes square inputs of at least ${MIN_INPUT_SIZE}x${MIN_INPUT_SIZE} pixels (an integer >= ${MIN_INPUT_SIZE})`);
  }
}

/** 1280 channels at the top, widened (but never narrowed) with alpha: Keras keeps 1280 for alpha <= 1. */
export function lastBlockFilters(alpha: number): number {
  return alpha > 1 ? makeDivisible(1280 * alpha) : 1280;
}

/** The output grid, computed without building: every stride-2 layer maps n to ceil(n / 2). */
export function featureShape(inputSize: number, alpha: number): FeatureShape {
  checkInputSize(inputSize);
  let size = Math.ceil(inputSize / 2); // Conv1
  for (const row of BODY) if (row.s === 2) size = Math.ceil(size / 2);
  return [size, size, lastBlockFilters(alpha)];
}

export interface ArchitectureOptions {
  alpha: number;
  inputSize: number;
  /** Seeds every initialiser (each layer gets its own seed from this one and its name). */
  seed: number;
}

/** keras.applications.MobileNetV2(include_top=False, weights=None), layer for layer. */
export function mobileNetV2({ alpha, inputSize, seed }: ArchitectureOptions): tf.LayersModel {
  checkInputSize(inputSize);
  const nn = kerasLayers(seed);
  const input = tf.input({ shape: [inputSize, inputSize, 3], name: 'input_layer' });

  let x = nn.conv(input, 'Conv1', makeDivisible(32 * alpha), { kernelSize: 3, strides: 2, padding: 'same' });
  x = nn.bn(x, 'bn_Conv1');
  x = nn.relu6(x, 'Conv1_relu');

  let blockId = 0;
  for (const { t, c, n, s } of BODY) {
    for (let i = 0; i < n; i++) {
      x = invertedResBlock(nn, x, { expansion: t, filters: c, alpha, stride: i === 0 ? s : 1, blockId: blockId++ });
    }
  }

  x = nn.conv(x, 'Conv_1', lastBlockFilters(alpha), { kernelSize: 1, strides: 1, padding: 'valid' });
  x = nn.bn(x, 'Conv_1_bn');
  x = nn.relu6(x, 'out_relu');
  return tf.model({ inputs: input, outputs: x, name: `mobilenetv2_${alpha.toFixed(2)}_${inputSize}` });
}

interface BlockOptions {
  expansion: number;
  filters: number;
  alpha: number;
  stride: number;
  blockId: number;
}

/** Keras' `_inverted_res_block`: expand (1x1), depthwise (3x3), project (1x1, linear), add. */
function invertedResBlock(nn: KerasLayers, inputs: T, { expansion, filters, alpha, stride, blockId }: BlockOptions): T {
  const inChannels = channels(inputs);
  const pointwiseFilters = makeDivisible(Math.trunc(filters * alpha));
  let x = inputs;
  let prefix = `block_${blockId}_`;

  if (blockId) {
    x = nn.conv(x, `${prefix}expand`, expansion * inChannels, { kernelSize: 1, strides: 1, padding: 'same' });
    x = nn.bn(x, `${prefix}expand_BN`);
    x = nn.relu6(x, `${prefix}expand_relu`);
  } else {
    prefix = 'expanded_conv_';
  }

  if (stride === 2) x = nn.pad(x, `${prefix}pad`, correctPad(spatialSize(x)));
  x = nn.depthwise(x, `${prefix}depthwise`, { strides: stride, padding: stride === 1 ? 'same' : 'valid' });
  x = nn.bn(x, `${prefix}depthwise_BN`);
  x = nn.relu6(x, `${prefix}depthwise_relu`);

  x = nn.conv(x, `${prefix}project`, pointwiseFilters, { kernelSize: 1, strides: 1, padding: 'same' });
  x = nn.bn(x, `${prefix}project_BN`);

  return inChannels === pointwiseFilters && stride === 1 ? nn.add([inputs, x], `${prefix}add`) : x;
}

type Padding2D = [[number, number], [number, number]];

/**
 * Keras' `imagenet_utils.correct_pad` for a 3x3 kernel: (0, 1) on even sizes, (1, 1) on odd ones.
 * That is what TensorFlow's 'same' would do too; Keras pads explicitly so every backend agrees,
 * and the ZeroPadding2D layer stays because layer lists and weight files count it.
 */
function correctPad(size: number): Padding2D {
  const before = size % 2 === 0 ? 0 : 1;
  return [[before, 1], [before, 1]];
}

function channels(x: T): number {
  const c = x.shape[3];
  if (typeof c !== 'number') throw new Error(`expected a known channel count, got shape [${x.shape.join(', ')}]`);
  return c;
}

function spatialSize(x: T): number {
  const h = x.shape[1];
  if (typeof h !== 'number') throw new Error(`expected a known spatial size, got shape [${x.shape.join(', ')}]`);
  return h;
}

interface ConvOptions {
  kernelSize: number;
  strides: number;
  padding: 'same' | 'valid';
}

/** The layers MobileNetV2 uses, with Keras' defaults and one initialiser seed per layer. */
function kerasLayers(seed: number) {
  const apply = (layer: tf.layers.Layer, x: T | T[]) => layer.apply(x) as T;
  const glorot = (name: string) => tf.initializers.glorotUniform({ seed: layerSeed(seed, name) });
  return {
    conv: (x: T, name: string, filters: number, { kernelSize, strides, padding }: ConvOptions) =>
      apply(tf.layers.conv2d({ name, filters, kernelSize, strides, padding, useBias: false, kernelInitializer: glorot(name) }), x),
    depthwise: (x: T, name: string, { strides, padding }: Omit<ConvOptions, 'kernelSize'>) =>
      apply(tf.layers.depthwiseConv2d({ name, kernelSize: 3, strides, padding, useBias: false, depthwiseInitializer: glorot(name) }), x),
    bn: (x: T, name: string) => apply(batchNormalization(name), x),
    relu6: (x: T, name: string) => apply(tf.layers.reLU({ name, maxValue: 6 }), x),
    pad: (x: T, name: string, padding: Padding2D) => apply(tf.layers.zeroPadding2d({ name, padding }), x),
    add: (xs: T[], name: string) => apply(tf.layers.add({ name }), xs),
  };
}

type KerasLayers = ReturnType<typeof kerasLayers>;
