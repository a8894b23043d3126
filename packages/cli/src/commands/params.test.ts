import { describe, expect, it } from 'vitest';
import { defineBackbone, PluginRegistry, tf, UsageError } from '@headbench/core';
import { flatten } from '@headbench/heads-flatten';
import { gap } from '@headbench/heads-gap';
import { countCombinations } from './params.js';

const builds: string[] = [];

// Two stride-2 convolutions and a BatchNorm (for non-trainable weights): 16 -> 4x4xwidth.
const tiny = defineBackbone({
  meta: { name: 'tiny', version: '0.0.0' },
  schema: {
    width: { type: 'number', default: 8, integer: true, min: 1, description: 'channels of the feature map' },
    weights: { type: 'string', default: 'imagenet', description: "'none', 'imagenet' or a path" },
  },
  featureShape: (inputSize, { width }) => {
    if (inputSize % 4 !== 0) throw new UsageError(`tiny: input size ${inputSize} is not a multiple of 4`);
    return [inputSize / 4, inputSize / 4, width];
  },
  preprocess: (images) => images,
  build: async ({ inputSize, seed }, { width, weights }) => {
    builds.push(weights);
    if (weights !== 'none') throw new Error(`tiny: would read weights ${weights}`);
    const input = tf.input({ shape: [inputSize, inputSize, 3] });
    const init = tf.initializers.glorotUniform({ seed });
    let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: init }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({}).apply(x) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters: width, kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: init }).apply(x) as tf.SymbolicTensor;
    return { model: tf.model({ inputs: input, outputs: x }), featureShape: [inputSize / 4, inputSize / 4, width], weights: 'random' };
  },
});

function registry() {
  const r = new PluginRegistry();
  for (const [factory, source] of [[tiny, 'test'], [gap, 'gap'], [flatten, 'flatten']] as const) r.register(factory, source);
  return r;
}

// conv 3x3x3x4 + 4, BN 4 gamma + 4 beta trainable and 4 + 4 moving statistics, conv 3x3x4xW + W.
const base = (w: number) => ({ trainable: 3 * 3 * 3 * 4 + 4 + 8 + 3 * 3 * 4 * w + w, nonTrainable: 8 });

describe('countCombinations', () => {
  it('counts every backbone x head, in backbone-major order', async () => {
    const rows = await countCombinations(registry(), { backbones: ['tiny', 'tiny:width=16'], heads: ['gap', 'flatten'], inputSize: 32, classes: 10 });
    const expected = [
      ['tiny', 'gap', [8, 8, 8], 8 * 10 + 10],
      ['tiny', 'flatten', [8, 8, 8], 8 * 8 * 8 * 10 + 10],
      ['tiny:width=16', 'gap', [8, 8, 16], 16 * 10 + 10],
      ['tiny:width=16', 'flatten', [8, 8, 16], 8 * 8 * 16 * 10 + 10],
    ] as const;
    expect(rows).toEqual(expected.map(([backbone, head, featureShape, headParams]) => {
      const { trainable, nonTrainable } = base(featureShape[2]);
      return {
        backbone, head, inputSize: 32, classes: 10, featureShape,
        params: { total: trainable + nonTrainable + headParams, trainable: trainable + headParams, nonTrainable, head: headParams },
      };
    }));
  });

  it('builds with weights=none but names the backbone as asked', async () => {
    builds.length = 0;
    const rows = await countCombinations(registry(), { backbones: ['tiny:weights=/no/such/file.h5'], heads: ['gap'], inputSize: 16, classes: 2 });
    expect(builds).toEqual(['none']);
    expect(rows.map((r) => r.backbone)).toEqual(['tiny:weights=/no/such/file.h5']);
  });

  it('disposes every model it builds', async () => {
    const r = registry();
    const request = { backbones: ['tiny'], heads: ['gap', 'flatten'], inputSize: 16, classes: 3 };
    await countCombinations(r, request); // first use: kernels and tfjs' own caches
    const before = tf.memory().numTensors;
    await countCombinations(r, request);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('checks every specifier and the input size before building anything', async () => {
    builds.length = 0;
    const count = (backbones: string[], heads: string[], inputSize = 16) => countCombinations(registry(), { backbones, heads, inputSize, classes: 2 });
    await expect(count(['tiny'], ['gap', 'nope'])).rejects.toThrow('unknown head "nope"; known heads: flatten, gap');
    await expect(count(['tiny', 'tiny:width=0'], ['gap'])).rejects.toThrow(/tiny: option width=0 is out of range/);
    await expect(count(['tiny'], ['gap'], 18)).rejects.toThrow('tiny: input size 18 is not a multiple of 4');
    await expect(count(['tiny', 'tiny:width=8'], ['gap'])).rejects.toThrow('the backbones include tiny twice');
    await expect(count(['gap'], ['gap'])).rejects.toThrow('"gap" is a head plugin (from gap), not a backbone');
    await expect(count(['tiny'], ['tiny'])).rejects.toThrow(UsageError);
    expect(builds).toEqual([]);
  });
});
