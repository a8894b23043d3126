import { tf, UsageError, type FeatureShape } from '@headbench/core';
import { kerasLayers, validSize, type KerasLayers, type T } from './keras-layers.js';

/**
 * ResNet50 and ResNet50V2 as Keras' `resnet.py` and `resnet_v2.py` build them: four stacks of
 * bottleneck blocks (Keras names them conv2..conv5, blocks block1..blockN). V1 (post-activation)
 * strides in the first block of a stack, V2 (pre-activation) in the last one.
 */
export const STACKS = [
  { name: 'conv2', filters: 64, blocks: 3, stride: 1 },
  { name: 'conv3', filters: 128, blocks: 4, stride: 2 },
  { name: 'conv4', filters: 256, blocks: 6, stride: 2 },
  { name: 'conv5', filters: 512, blocks: 3, stride: 2 },
] as const;

/** V2's stack_fn passes stride1=1 to conv5: its last stack does not stride. */
const V2_STRIDES = [2, 2, 2, 1] as const;

export type ResNetVersion = 'v1' | 'v2';

const BN = { epsilon: 1.001e-5, momentum: 0.99 };
export const MIN_INPUT_SIZE = 32;

function checkInputSize(name: string, inputSize: number): void {
  if (!Number.isInteger(inputSize) || inputSize < MIN_INPUT_SIZE) {
    throw new UsageError(`${name}: input size ${inputSize} is not supported; ResNet50 takes square inputs of at least ${MIN_INPUT_SIZE}x${MIN_INPUT_SIZE} pixels (an integer >= ${MIN_INPUT_SIZE})`);
  }
}

const modelName = (version: ResNetVersion) => (version === 'v1' ? 'resnet50' : 'resnet50v2');

/** The grid after conv1 (7x7 stride 2 on a 3-padded input), pool1 (3x3 stride 2 on a 1-padded one) and each stride. */
export function featureShape(version: ResNetVersion, inputSize: number): FeatureShape {
  checkInputSize(modelName(version), inputSize);
  let size = validSize(validSize(inputSize + 6, 7, 2) + 2, 3, 2);
  STACKS.forEach((stack, i) => {
    const stride = version === 'v1' ? stack.stride : V2_STRIDES[i]!;
    // A stride-2 1x1 'valid' convolution (V1) or V2's 3x3 on a 1-padded map: floor((n - 1) / 2) + 1.
    if (stride === 2) size = validSize(size, 1, 2);
  });
  return [size, size, 2048];
}

/** keras.applications.ResNet50 / ResNet50V2(include_top=False, weights=None), layer for layer. */
export function resNet50({ version, inputSize, seed }: { version: ResNetVersion; inputSize: number; seed: number }): tf.LayersModel {
  checkInputSize(modelName(version), inputSize);
  const nn = kerasLayers(seed);
  const preact = version === 'v2';
  const input = nn.input(inputSize);
  let x = nn.pad(input, [[3, 3], [3, 3]], 'conv1_pad');
  x = nn.conv(x, 'conv1_conv', 64, { kernelSize: 7, strides: 2 });
  if (!preact) {
    x = nn.bn(x, 'conv1_bn', BN);
    x = nn.activation(x, 'relu', 'conv1_relu');
  }
  x = nn.pad(x, [[1, 1], [1, 1]], 'pool1_pad');
  x = nn.maxPool(x, 3, 2, 'pool1_pool');

  for (const [i, { name, filters, blocks, stride }] of STACKS.entries()) {
    if (preact) {
      x = blockV2(nn, x, filters, { stride: 1, convShortcut: true, name: `${name}_block1` });
      for (let b = 2; b < blocks; b++) x = blockV2(nn, x, filters, { stride: 1, convShortcut: false, name: `${name}_block${b}` });
      x = blockV2(nn, x, filters, { stride: V2_STRIDES[i]!, convShortcut: false, name: `${name}_block${blocks}` });
    } else {
      x = blockV1(nn, x, filters, { stride, convShortcut: true, name: `${name}_block1` });
      for (let b = 2; b <= blocks; b++) x = blockV1(nn, x, filters, { stride: 1, convShortcut: false, name: `${name}_block${b}` });
    }
  }

  if (preact) {
    x = nn.bn(x, 'post_bn', BN);
    x = nn.activation(x, 'relu', 'post_relu');
  }
  return tf.model({ inputs: input, outputs: x, name: modelName(version) });
}

interface BlockOptions {
  stride: number;
  convShortcut: boolean;
  name: string;
}

/** Keras' `residual_block_v1`: 1x1 (strided), 3x3, 1x1 to 4x filters, each with BatchNorm; add; ReLU. */
function blockV1(nn: KerasLayers, inputs: T, filters: number, { stride, convShortcut, name }: BlockOptions): T {
  let shortcut = inputs;
  if (convShortcut) {
    shortcut = nn.conv(inputs, `${name}_0_conv`, 4 * filters, { kernelSize: 1, strides: stride });
    shortcut = nn.bn(shortcut, `${name}_0_bn`, BN);
  }
  let x = nn.conv(inputs, `${name}_1_conv`, filters, { kernelSize: 1, strides: stride });
  x = nn.bn(x, `${name}_1_bn`, BN);
  x = nn.activation(x, 'relu', `${name}_1_relu`);
  x = nn.conv(x, `${name}_2_conv`, filters, { kernelSize: 3, padding: 'same' });
  x = nn.bn(x, `${name}_2_bn`, BN);
  x = nn.activation(x, 'relu', `${name}_2_relu`);
  x = nn.conv(x, `${name}_3_conv`, 4 * filters, { kernelSize: 1 });
  x = nn.bn(x, `${name}_3_bn`, BN);
  x = nn.add([shortcut, x], `${name}_add`);
  return nn.activation(x, 'relu', `${name}_out`);
}

/** Keras' `residual_block_v2`: BatchNorm and ReLU first, then 1x1, padded 3x3 (strided), 1x1; add. */
function blockV2(nn: KerasLayers, inputs: T, filters: number, { stride, convShortcut, name }: BlockOptions): T {
  let preact = nn.bn(inputs, `${name}_preact_bn`, BN);
  preact = nn.activation(preact, 'relu', `${name}_preact_relu`);
  let shortcut: T;
  if (convShortcut) shortcut = nn.conv(preact, `${name}_0_conv`, 4 * filters, { kernelSize: 1, strides: stride });
  else shortcut = stride > 1 ? nn.maxPool(inputs, 1, stride) : inputs;
  let x = nn.conv(preact, `${name}_1_conv`, filters, { kernelSize: 1, useBias: false });
  x = nn.bn(x, `${name}_1_bn`, BN);
  x = nn.activation(x, 'relu', `${name}_1_relu`);
  x = nn.pad(x, [[1, 1], [1, 1]], `${name}_2_pad`);
  x = nn.conv(x, `${name}_2_conv`, filters, { kernelSize: 3, strides: stride, useBias: false });
  x = nn.bn(x, `${name}_2_bn`, BN);
  x = nn.activation(x, 'relu', `${name}_2_relu`);
  x = nn.conv(x, `${name}_3_conv`, 4 * filters, { kernelSize: 1 });
  return nn.add([shortcut, x], `${name}_out`);
}
