import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { countParams, tf } from '@headbench/core';
import { efficientNetB0, featureShape as efficientNetShape } from './efficientnet.js';
import { featureShape as mobileNetV3Shape, mobileNetV3 } from './mobilenetv3.js';
import { featureShape as resNetShape, resNet50 } from './resnet.js';
import { KERAS_DIR } from './testing/fixtures.js';

// Keras' own numbers (tools/keras-reference/make_backbone_fixtures.py params): parameter counts,
// feature shapes and the full operation list of every variant, against the TS architectures.

interface Counts {
  total: number;
  trainable: number;
  nonTrainable: number;
}
interface Row extends Counts {
  variant: string;
  size: number;
  weights: 'none' | 'imagenet';
  operations: number;
  output: [number, number, number];
  frozen: Counts;
  heads: Record<'gap' | 'flatten', Counts & { headParams: number; frozen: Counts }>;
}
interface Op {
  name: string;
  className: string;
  kind: 'layer' | 'op';
  constants?: number[];
  config?: Record<string, unknown>;
  outputShape?: (number | null)[];
  weights?: { name: string; shape: number[]; trainable: boolean }[];
}

const fixture = JSON.parse(readFileSync(path.join(KERAS_DIR, 'backbones.json'), 'utf8')) as { rows: Row[]; layers: Record<string, Op[]> };

function build(variant: string, size: number, weights: 'none' | 'imagenet' = 'none'): tf.LayersModel {
  const [family, option] = variant.split('_') as [string, string | undefined];
  const common = { inputSize: size, seed: 1 };
  if (family.startsWith('mobilenetv3')) {
    const type = family === 'mobilenetv3small' ? 'small' : 'large';
    return mobileNetV3({ type, alpha: option === '0.75' ? 0.75 : 1, minimalistic: option === 'minimalistic', ...common });
  }
  if (family === 'efficientnetb0') return efficientNetB0({ ...common, imagenetLayout: weights === 'imagenet' });
  return resNet50({ version: family === 'resnet50' ? 'v1' : 'v2', ...common });
}

function shapeOf(variant: string, size: number): readonly number[] {
  const [family, option] = variant.split('_') as [string, string | undefined];
  if (family.startsWith('mobilenetv3')) return mobileNetV3Shape(family === 'mobilenetv3small' ? 'small' : 'large', size, option === '0.75' ? 0.75 : 1);
  if (family === 'efficientnetb0') return efficientNetShape(size);
  return resNetShape(family === 'resnet50' ? 'v1' : 'v2', size);
}

const counts = (model: tf.LayersModel): Counts => {
  const { total, trainable, nonTrainable } = countParams(model);
  return { total, trainable, nonTrainable };
};

describe('parameter counts and feature shapes against Keras', () => {
  it.each(fixture.rows.map((r) => [r.variant, r.size, r.weights, r] as const))('%s at %spx (weights=%s)', (variant, size, weights, row) => {
    const model = build(variant, size, weights);
    expect(counts(model)).toEqual({ total: row.total, trainable: row.trainable, nonTrainable: row.nonTrainable });
    expect(model.outputs[0]?.shape).toEqual([null, ...row.output]);
    expect(shapeOf(variant, size)).toEqual(row.output);
    expect(model.layers.length - 0).toBe(row.operations);
    // The heads add Dense(5) on GAP (c features) or Flatten (h*w*c): Keras' totals are the sums.
    const [h, w, c] = row.output;
    expect(row.heads.gap.headParams).toBe(c * 5 + 5);
    expect(row.heads.flatten.headParams).toBe(h * w * c * 5 + 5);
    expect(row.heads.gap.total).toBe(row.total + row.heads.gap.headParams);
    for (const layer of model.layers) layer.trainable = false;
    expect(counts(model)).toEqual(row.frozen);
    model.dispose();
  });
});

/** Keras 3's constant arithmetic, recorded as operations, is a ScalarAdd / ScalarMultiply layer here. */
const OUR_OP_CLASS: Record<string, string> = { Add: 'ScalarAdd', Multiply: 'ScalarMultiply' };

describe('operation lists against Keras (model.operations at 224)', () => {
  it.each(Object.keys(fixture.layers))('%s: same layers and operations, names, order, inputs shapes, weights and settings', (key) => {
    const [variant, layout] = key.split('@') as [string, string | undefined];
    const model = build(variant, 224, layout === 'imagenet' ? 'imagenet' : 'none');
    const expected = fixture.layers[key]!;
    expect(model.layers.map((l) => l.name)).toEqual(expected.map((o) => o.name));
    for (const [i, op] of expected.entries()) {
      const layer = model.layers[i]!;
      const config = layer.getConfig();
      const where = `${key} ${op.name}`;
      if (op.kind === 'op') {
        expect(layer.getClassName(), where).toBe(OUR_OP_CLASS[op.className]);
        expect([Math.fround(Number(config['value']))], where).toEqual(op.constants!.map(Math.fround));
        continue;
      }
      expect(layer.getClassName(), where).toBe(op.className);
      expect(layer.outputShape, where).toEqual(op.outputShape);
      expect(
        layer.weights.map((w) => ({ name: w.originalName.split('/').pop(), shape: w.shape, trainable: w.trainable })),
        where,
      ).toEqual(op.weights!.map((w) => ({ name: w.name.split('/').pop()!.replace(/:0$/, ''), shape: w.shape, trainable: w.trainable })));
      const c = op.config!;
      const pair = (v: unknown) => (typeof v === 'number' ? [v, v] : v);
      if ('kernel_size' in c) expect(pair(config['kernelSize']), where).toEqual(c['kernel_size']);
      if ('strides' in c) expect(pair(config['strides']), where).toEqual(c['strides']);
      if ('padding' in c) expect(config['padding'], where).toEqual(typeof c['padding'] === 'string' ? (c['padding'] as string).toLowerCase() : c['padding']);
      if ('use_bias' in c) expect(config['useBias'], where).toBe(c['use_bias']);
      if ('activation' in c) expect(config['activation'] ?? 'linear', where).toBe(c['activation']);
      if ('epsilon' in c) expect(config['epsilon'], where).toBe(c['epsilon']);
      if ('momentum' in c) expect(config['momentum'], where).toBe(c['momentum']);
      if ('max_value' in c) expect(config['maxValue'] ?? null, where).toBe(c['max_value']);
      if ('rate' in c) expect(config['rate'], where).toBe(c['rate']);
      if ('noise_shape' in c) expect(config['noiseShape'] ?? null, where).toEqual(c['noise_shape']);
      if ('keepdims' in c) expect(config['keepDims'] ?? false, where).toBe(c['keepdims']);
      if ('pool_size' in c) expect(pair(config['poolSize']), where).toEqual(c['pool_size']);
      if ('target_shape' in c) expect(config['targetShape'], where).toEqual(c['target_shape']);
      if (op.className === 'Rescaling') {
        expect([config['scale']].flat().map((v) => Math.fround(Number(v))), where).toEqual([c['scale']].flat().map((v) => Math.fround(Number(v))));
        expect(config['offset'], where).toBe(c['offset']);
      }
    }
    model.dispose();
  });
});
