import { tf, UsageError, type FeatureShape } from '@headbench/core';
import { channels, correctPad, kerasLayers, sameSize, spatialSize, type KerasLayers, type T } from './keras-layers.js';
import { makeDivisible } from './make-divisible.js';

/**
 * MobileNetV3 as Keras' `mobilenet_v3.py` builds it. Each row is one `_inverted_res_block` of
 * `stack_fn`: expansion, output channels (before alpha), kernel, stride, squeeze-and-excite and
 * activation. `kernel: 'k'` and `act: 'a'` are the model's own choice: 5 and hard-swish, or 3 and
 * ReLU when minimalistic (which also drops every squeeze-and-excite).
 */
type Row = readonly [expansion: number, filters: number, kernel: 3 | 'k', stride: 1 | 2, se: boolean, act: 'relu' | 'a'];

export const SMALL: readonly Row[] = [
  [1, 16, 3, 2, true, 'relu'],
  [72 / 16, 24, 3, 2, false, 'relu'],
  [88 / 24, 24, 3, 1, false, 'relu'],
  [4, 40, 'k', 2, true, 'a'],
  [6, 40, 'k', 1, true, 'a'],
  [6, 40, 'k', 1, true, 'a'],
  [3, 48, 'k', 1, true, 'a'],
  [3, 48, 'k', 1, true, 'a'],
  [6, 96, 'k', 2, true, 'a'],
  [6, 96, 'k', 1, true, 'a'],
  [6, 96, 'k', 1, true, 'a'],
];

export const LARGE: readonly Row[] = [
  [1, 16, 3, 1, false, 'relu'],
  [4, 24, 3, 2, false, 'relu'],
  [3, 24, 3, 1, false, 'relu'],
  [3, 40, 'k', 2, true, 'relu'],
  [3, 40, 'k', 1, true, 'relu'],
  [3, 40, 'k', 1, true, 'relu'],
  [6, 80, 3, 2, false, 'a'],
  [2.5, 80, 3, 1, false, 'a'],
  [2.3, 80, 3, 1, false, 'a'],
  [2.3, 80, 3, 1, false, 'a'],
  [6, 112, 3, 1, true, 'a'],
  [6, 112, 3, 1, true, 'a'],
  [6, 160, 'k', 2, true, 'a'],
  [6, 160, 'k', 1, true, 'a'],
  [6, 160, 'k', 1, true, 'a'],
];

export type MobileNetV3Type = 'small' | 'large';

export interface MobileNetV3Options {
  type: MobileNetV3Type;
  alpha: number;
  minimalistic: boolean;
  inputSize: number;
  seed: number;
}

/** Keras' minimum ("Input size must be at least 32x32"). */
export const MIN_INPUT_SIZE = 32;

function checkInputSize(name: string, inputSize: number): void {
  if (!Number.isInteger(inputSize) || inputSize < MIN_INPUT_SIZE) {
    throw new UsageError(`${name}: input size ${inputSize} is not supported; MobileNetV3 takes square inputs of at least ${MIN_INPUT_SIZE}x${MIN_INPUT_SIZE} pixels (an integer >= ${MIN_INPUT_SIZE})`);
  }
}

const rows = (type: MobileNetV3Type) => (type === 'small' ? SMALL : LARGE);
const depth = (filters: number, alpha: number) => makeDivisible(filters * alpha);

/** The output grid and channels, from the table: every stride-2 layer maps n to ceil(n / 2). */
export function featureShape(type: MobileNetV3Type, inputSize: number, alpha: number): FeatureShape {
  checkInputSize(`mobilenetv3${type}`, inputSize);
  let size = sameSize(inputSize, 2);
  for (const [, , , stride] of rows(type)) if (stride === 2) size = sameSize(size, 2);
  const last = rows(type).at(-1)!;
  return [size, size, makeDivisible(depth(last[1], alpha) * 6)];
}

/** keras.applications.MobileNetV3Small/Large(include_top=False, weights=None), layer for layer. */
export function mobileNetV3({ type, alpha, minimalistic, inputSize, seed }: MobileNetV3Options): tf.LayersModel {
  checkInputSize(`mobilenetv3${type}`, inputSize);
  const nn = kerasLayers(seed);
  const kernel = minimalistic ? 3 : 5;
  const activation = (x: T) => (minimalistic ? nn.relu(x) : hardSwish(nn, x));

  const input = nn.input(inputSize);
  let x = nn.rescaling(input, 1 / 127.5, -1);
  x = nn.conv(x, 'conv', 16, { kernelSize: 3, strides: 2, padding: 'same', useBias: false });
  x = nn.bn(x, 'conv_bn');
  x = activation(x);

  for (const [blockId, [expansion, filters, k, stride, se, act]] of rows(type).entries()) {
    x = invertedResBlock(nn, x, {
      expansion,
      filters: depth(filters, alpha),
      kernelSize: k === 'k' ? kernel : k,
      stride,
      se: se && !minimalistic,
      activation: act === 'relu' ? (y) => nn.relu(y) : activation,
      blockId,
    });
  }

  x = nn.conv(x, 'conv_1', makeDivisible(channels(x) * 6), { kernelSize: 1, padding: 'same', useBias: false });
  x = nn.bn(x, 'conv_1_bn');
  x = activation(x);
  const name = `MobileNetV3${type === 'small' ? 'Small' : 'Large'}`;
  return tf.model({ inputs: input, outputs: x, name });
}

/** Keras' `hard_swish`: `layers.Activation("hard_swish")`, serialised as `hard_silu`. */
const hardSwish = (nn: KerasLayers, x: T) => nn.activation(x, 'hard_silu');

/** Keras' `hard_sigmoid`: `layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)`, two operations around a layer. */
const hardSigmoid = (nn: KerasLayers, x: T) => nn.times(nn.relu(nn.plus(x, 3), undefined, 6), 1 / 6);

function seBlock(nn: KerasLayers, inputs: T, filters: number, prefix: string): T {
  let x = nn.gap(inputs, `${prefix}squeeze_excite_avg_pool`, true);
  x = nn.conv(x, `${prefix}squeeze_excite_conv`, makeDivisible(filters * 0.25), { kernelSize: 1, padding: 'same' });
  x = nn.relu(x, `${prefix}squeeze_excite_relu`);
  x = nn.conv(x, `${prefix}squeeze_excite_conv_1`, filters, { kernelSize: 1, padding: 'same' });
  x = hardSigmoid(nn, x);
  return nn.multiply([inputs, x], `${prefix}squeeze_excite_mul`);
}

interface BlockOptions {
  expansion: number;
  filters: number;
  kernelSize: number;
  stride: number;
  se: boolean;
  activation: (x: T) => T;
  blockId: number;
}

/** Keras' `_inverted_res_block`: expand (1x1), depthwise, squeeze-and-excite, project (1x1), add. */
function invertedResBlock(nn: KerasLayers, inputs: T, { expansion, filters, kernelSize, stride, se, activation, blockId }: BlockOptions): T {
  const inFilters = channels(inputs);
  const expanded = makeDivisible(inFilters * expansion);
  let prefix = 'expanded_conv_';
  let x = inputs;
  if (blockId) {
    prefix = `expanded_conv_${blockId}_`;
    x = nn.conv(x, `${prefix}expand`, expanded, { kernelSize: 1, padding: 'same', useBias: false });
    x = nn.bn(x, `${prefix}expand_bn`);
    x = activation(x);
  }
  if (stride === 2) x = nn.pad(x, correctPad(spatialSize(x), kernelSize), `${prefix}depthwise_pad`);
  x = nn.depthwise(x, `${prefix}depthwise`, { kernelSize, strides: stride, padding: stride === 1 ? 'same' : 'valid' });
  x = nn.bn(x, `${prefix}depthwise_bn`);
  x = activation(x);
  if (se) x = seBlock(nn, x, expanded, prefix);
  x = nn.conv(x, `${prefix}project`, filters, { kernelSize: 1, padding: 'same', useBias: false });
  x = nn.bn(x, `${prefix}project_bn`);
  return stride === 1 && inFilters === filters ? nn.add([inputs, x], `${prefix}add`) : x;
}
