import { describe, expect, it } from 'vitest';
import { countParams, tf, UsageError } from '@headbench/core';
import { featureShape, mobileNetV2 } from './architecture.js';
import { meta, params, weightsDigest } from './testing/fixtures.js';

function freeze(model: tf.LayersModel): void {
  for (const layer of model.layers) layer.trainable = false;
}

describe('MobileNetV2 architecture against Keras (params.json)', () => {
  it.each(params.base.map((row) => [row.alpha, row.size, row] as const))('alpha %s, %spx: counts, output and layers', (alpha, size, row) => {
    const model = mobileNetV2({ alpha, inputSize: size, seed: 1 });
    const { total, trainable, nonTrainable } = countParams(model);
    expect({ total, trainable, nonTrainable }).toEqual({ total: row.total, trainable: row.trainable, nonTrainable: row.nonTrainable });
    expect(model.layers.length).toBe(row.layers);
    expect(model.outputs[0]?.shape).toEqual([null, ...row.output]);
    expect(featureShape(size, alpha)).toEqual(row.output);
    freeze(model);
    const frozen = countParams(model);
    expect({ total: frozen.total, trainable: frozen.trainable, nonTrainable: frozen.nonTrainable }).toEqual(row.frozen);
    model.dispose();
  });
});

describe('MobileNetV2 layer list against Keras (meta.json, alpha 0.35 at 96px)', () => {
  const model = mobileNetV2({ alpha: meta.model.alpha, inputSize: meta.model.size, seed: 1 });

  it('has the same layers, classes, inbound layers and output shapes in the same order', () => {
    const ours = model.layers.map((layer) => ({
      name: layer.name,
      className: layer.getClassName(),
      inbound: layer.inboundNodes.flatMap((node) => node.inboundLayers.map((l) => l.name)),
      outputShape: layer.outputShape,
    }));
    expect(ours).toEqual(meta.layers.map(({ name, className, inbound, outputShape }) => ({ name, className, inbound, outputShape })));
  });

  it('has the same layer configuration', () => {
    for (const [i, expected] of meta.layers.entries()) {
      const config = model.layers[i]?.getConfig() ?? {};
      const c = expected.config;
      const pick = (key: string) => config[key];
      switch (expected.className) {
        case 'Conv2D':
          expect([pick('filters'), pick('kernelSize'), pick('strides'), pick('padding'), pick('useBias')], expected.name).toEqual([
            c['filters'], c['kernel_size'], c['strides'], c['padding'], c['use_bias'],
          ]);
          break;
        case 'DepthwiseConv2D':
          expect([pick('kernelSize'), pick('strides'), pick('padding'), pick('depthMultiplier'), pick('useBias')], expected.name).toEqual([
            c['kernel_size'], c['strides'], c['padding'], c['depth_multiplier'], c['use_bias'],
          ]);
          break;
        case 'BatchNormalization':
          expect([pick('axis'), pick('epsilon'), pick('momentum'), pick('center'), pick('scale')], expected.name).toEqual([
            c['axis'], c['epsilon'], c['momentum'], c['center'], c['scale'],
          ]);
          break;
        case 'ReLU':
          expect(pick('maxValue'), expected.name).toBe(c['max_value']);
          break;
        case 'ZeroPadding2D':
          expect(pick('padding'), expected.name).toEqual(c['padding']);
          break;
      }
    }
  });

  it('has the same weights per layer, in Keras order, with the same shapes and trainability', () => {
    for (const [i, expected] of meta.layers.entries()) {
      const weights = model.layers[i]?.weights ?? [];
      expect(
        weights.map((w) => ({ name: w.originalName.split('/').pop(), shape: w.shape, trainable: w.trainable })),
        expected.name,
      ).toEqual(expected.weights.map((w) => ({ name: w.h5Name.split('/').pop()?.replace(/:0$/, ''), shape: w.shape, trainable: w.trainable })));
    }
  });
});

describe('input sizes', () => {
  it('pads odd sizes (1, 1) and even sizes (0, 1), as correct_pad does', () => {
    const model = mobileNetV2({ alpha: 0.35, inputSize: 33, seed: 1 });
    const pads = model.layers.filter((l) => l.getClassName() === 'ZeroPadding2D').map((l) => [l.name, l.getConfig()['padding']]);
    // 33 -> Conv1 17 (odd) -> block_1 9 (odd) -> block_3 5 (odd) -> block_6 3 (odd) -> block_13
    expect(pads).toEqual([
      ['block_1_pad', [[1, 1], [1, 1]]],
      ['block_3_pad', [[1, 1], [1, 1]]],
      ['block_6_pad', [[1, 1], [1, 1]]],
      ['block_13_pad', [[1, 1], [1, 1]]],
    ]);
    expect(model.outputs[0]?.shape).toEqual([null, ...featureShape(33, 0.35)]);
    model.dispose();
  });

  it.each([31, 0, -1, 32.5, Number.NaN])('rejects %s with the minimum in the message', (size) => {
    expect(() => mobileNetV2({ alpha: 1, inputSize: size, seed: 1 })).toThrow(UsageError);
    expect(() => featureShape(size, 1)).toThrow(/at least 32x32/);
  });
});

describe('seeded initialisation', () => {
  it('gives identical weights for the same seed and different ones for another seed', () => {
    const digest = (seed: number) => {
      const model = mobileNetV2({ alpha: 0.35, inputSize: 32, seed });
      const conv1 = model.getLayer('Conv1').getWeights()[0]?.dataSync().slice();
      const all = weightsDigest(model);
      model.dispose();
      return { conv1, all };
    };
    const [a, b, c] = [digest(7), digest(7), digest(8)];
    expect(b.all).toBe(a.all);
    expect(c.all).not.toBe(a.all);
    expect(c.conv1).not.toEqual(a.conv1);
  });
});
