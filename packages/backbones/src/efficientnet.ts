import { tf, UsageError, type FeatureShape } from '@headbench/core';
import { correctPad, kerasLayers, sameSize, spatialSize, type KerasLayers, type T } from './keras-layers.js';

/**
 * EfficientNetB0 as Keras' `efficientnet.py` builds it: `DEFAULT_BLOCKS_ARGS`, one row per stage
 * of `repeats` MBConv blocks (Keras names them block1a, block2a, block2b, ...); the first block
 * of a stage has the stage's stride and input channels. B0 scales neither width nor depth.
 */
export const BLOCKS = [
  { kernelSize: 3, repeats: 1, filtersIn: 32, filtersOut: 16, expandRatio: 1, strides: 1 },
  { kernelSize: 3, repeats: 2, filtersIn: 16, filtersOut: 24, expandRatio: 6, strides: 2 },
  { kernelSize: 5, repeats: 2, filtersIn: 24, filtersOut: 40, expandRatio: 6, strides: 2 },
  { kernelSize: 3, repeats: 3, filtersIn: 40, filtersOut: 80, expandRatio: 6, strides: 2 },
  { kernelSize: 5, repeats: 3, filtersIn: 80, filtersOut: 112, expandRatio: 6, strides: 1 },
  { kernelSize: 5, repeats: 4, filtersIn: 112, filtersOut: 192, expandRatio: 6, strides: 2 },
  { kernelSize: 3, repeats: 1, filtersIn: 192, filtersOut: 320, expandRatio: 6, strides: 1 },
] as const;

const SE_RATIO = 0.25;
/** Stochastic depth: block b of n drops its residual branch with rate 0.2 * b / n in training. */
const DROP_CONNECT_RATE = 0.2;
const TOP_FILTERS = 1280;
/** Keras' IMAGENET_STDDEV_RGB; with weights=imagenet Keras rescales by 1 / sqrt of each. */
export const IMAGENET_STDDEV_RGB = [0.229, 0.224, 0.225];

export const MIN_INPUT_SIZE = 32;

function checkInputSize(inputSize: number): void {
  if (!Number.isInteger(inputSize) || inputSize < MIN_INPUT_SIZE) {
    throw new UsageError(`efficientnetb0: input size ${inputSize} is not supported; EfficientNetB0 takes square inputs of at least ${MIN_INPUT_SIZE}x${MIN_INPUT_SIZE} pixels (an integer >= ${MIN_INPUT_SIZE})`);
  }
}

export function featureShape(inputSize: number): FeatureShape {
  checkInputSize(inputSize);
  let size = sameSize(inputSize, 2); // stem
  for (const stage of BLOCKS) if (stage.strides === 2) size = sameSize(size, 2);
  return [size, size, TOP_FILTERS];
}

export interface EfficientNetOptions {
  inputSize: number;
  seed: number;
  /**
   * Build the model Keras builds for `weights="imagenet"`: it has one more layer, a Rescaling by
   * 1 / sqrt(stddev) after Normalization (the official weights were trained with it).
   */
  imagenetLayout: boolean;
}

/** keras.applications.EfficientNetB0(include_top=False), layer for layer. */
export function efficientNetB0({ inputSize, seed, imagenetLayout }: EfficientNetOptions): tf.LayersModel {
  checkInputSize(inputSize);
  const nn = kerasLayers(seed, 'efficientnet');
  const input = nn.input(inputSize);
  let x = nn.rescaling(input, 1 / 255);
  x = nn.normalization(x);
  if (imagenetLayout) x = nn.rescaling(x, IMAGENET_STDDEV_RGB.map((s) => 1 / Math.sqrt(s)));
  x = nn.pad(x, correctPad(spatialSize(x), 3), 'stem_conv_pad');
  x = nn.conv(x, 'stem_conv', 32, { kernelSize: 3, strides: 2, padding: 'valid', useBias: false });
  x = nn.bn(x, 'stem_bn', KERAS_BN);
  x = nn.activation(x, 'silu', 'stem_activation');

  const total = BLOCKS.reduce((n, stage) => n + stage.repeats, 0);
  let b = 0;
  for (const [i, stage] of BLOCKS.entries()) {
    for (let j = 0; j < stage.repeats; j++) {
      x = block(nn, x, {
        ...stage,
        strides: j === 0 ? stage.strides : 1,
        filtersIn: j === 0 ? stage.filtersIn : stage.filtersOut,
        dropRate: (DROP_CONNECT_RATE * b) / total,
        name: `block${i + 1}${String.fromCharCode(97 + j)}_`,
      });
      b++;
    }
  }

  x = nn.conv(x, 'top_conv', TOP_FILTERS, { kernelSize: 1, padding: 'same', useBias: false });
  x = nn.bn(x, 'top_bn', KERAS_BN);
  x = nn.activation(x, 'silu', 'top_activation');
  return tf.model({ inputs: input, outputs: x, name: 'efficientnetb0' });
}

/** `layers.BatchNormalization(axis=3)`: Keras' defaults, which EfficientNet keeps. */
const KERAS_BN = { epsilon: 1e-3, momentum: 0.99 };

interface BlockOptions {
  kernelSize: number;
  filtersIn: number;
  filtersOut: number;
  expandRatio: number;
  strides: number;
  dropRate: number;
  name: string;
}

/** Keras' `block`: expand, depthwise, squeeze-and-excite, project, stochastic depth and add. */
function block(nn: KerasLayers, inputs: T, { kernelSize, filtersIn, filtersOut, expandRatio, strides, dropRate, name }: BlockOptions): T {
  const filters = filtersIn * expandRatio;
  let x = inputs;
  if (expandRatio !== 1) {
    x = nn.conv(x, `${name}expand_conv`, filters, { kernelSize: 1, padding: 'same', useBias: false });
    x = nn.bn(x, `${name}expand_bn`, KERAS_BN);
    x = nn.activation(x, 'silu', `${name}expand_activation`);
  }
  if (strides === 2) x = nn.pad(x, correctPad(spatialSize(x), kernelSize), `${name}dwconv_pad`);
  x = nn.depthwise(x, `${name}dwconv`, { kernelSize, strides, padding: strides === 2 ? 'valid' : 'same' });
  x = nn.bn(x, `${name}bn`, KERAS_BN);
  x = nn.activation(x, 'silu', `${name}activation`);

  const filtersSe = Math.max(1, Math.trunc(filtersIn * SE_RATIO));
  let se = nn.gap(x, `${name}se_squeeze`);
  se = nn.reshape(se, `${name}se_reshape`, [1, 1, filters]);
  se = nn.conv(se, `${name}se_reduce`, filtersSe, { kernelSize: 1, padding: 'same', activation: 'silu' });
  se = nn.conv(se, `${name}se_expand`, filters, { kernelSize: 1, padding: 'same', activation: 'sigmoid' });
  x = nn.multiply([x, se], `${name}se_excite`);

  x = nn.conv(x, `${name}project_conv`, filtersOut, { kernelSize: 1, padding: 'same', useBias: false });
  x = nn.bn(x, `${name}project_bn`, KERAS_BN);
  if (strides === 1 && filtersIn === filtersOut) {
    if (dropRate > 0) x = nn.dropout(x, `${name}drop`, dropRate, [null, 1, 1, 1]);
    x = nn.add([x, inputs], `${name}add`);
  }
  return x;
}
