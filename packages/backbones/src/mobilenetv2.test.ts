import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileInference } from '@headbench/engine';
import { composeModel, countParams, defineHead, notAPlugin, PluginRegistry, tf, UsageError, type HeadPlugin } from '@headbench/core';
import defaultExport, { mobilenetv2 } from './index.js';
import { H5_FIXTURE_DIR, PACKAGE_DIR, params, readFloat32 } from './testing/fixtures.js';

const FIXTURE = path.join(H5_FIXTURE_DIR, 'weights.h5');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'headbench-plugin-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The heads params.json was made with: GlobalAveragePooling2D or Flatten, then Dense (logits). */
function head(kind: 'gap' | 'flatten'): HeadPlugin {
  return defineHead({
    meta: { name: kind, version: '0.0.0' },
    schema: {},
    build(features, { classes, seed }) {
      const pool = kind === 'gap' ? tf.layers.globalAveragePooling2d({}) : tf.layers.flatten();
      const dense = tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }) });
      return dense.apply(pool.apply(features)) as tf.SymbolicTensor;
    },
  })();
}

describe('the mobilenetv2 plugin', () => {
  it('is a headbench backbone plugin, also as the default export', () => {
    const plugin = mobilenetv2();
    expect(notAPlugin(plugin)).toBeUndefined();
    expect(defaultExport).toBe(mobilenetv2);
    const { version } = JSON.parse(readFileSync(path.join(PACKAGE_DIR, 'package.json'), 'utf8')) as { version: string };
    expect(plugin.meta).toMatchObject({ name: 'mobilenetv2', version, kind: 'backbone' });
    expect(plugin.options).toEqual({ alpha: 1, weights: 'imagenet', trainable: true });
    const registry = new PluginRegistry();
    registry.register(defaultExport, '@headbench/backbones');
    expect(registry.create('backbone', 'mobilenetv2:alpha=0.35,weights=none,trainable=false').options).toEqual({ alpha: 0.35, weights: 'none', trainable: false });
  });

  it('checks its options', () => {
    expect(() => mobilenetv2({ alpha: 0.6 })).toThrow(/option alpha=0.6 is not supported; expected one of 0.35, 0.5, 0.75, 1, 1.3, 1.4/);
    expect(() => mobilenetv2({ depth: 3 } as never)).toThrow(UsageError);
    expect(() => mobilenetv2().featureShape(16)).toThrow(/at least 32x32 pixels/);
  });

  it('preprocesses [0, 255] to [-1, 1] as Keras does, keeping its input', () => {
    const images = tf.tensor4d([0, 127.5, 255, 51], [1, 2, 2, 1]);
    const out = mobilenetv2().preprocess(images);
    expect(Array.from(out.dataSync())).toEqual([-1, 0, 1, 51 / 127.5 - 1].map(Math.fround));
    expect(images.isDisposed).toBe(false);
    tf.dispose([images, out]);
  });

  it('builds with random seeded weights when weights=none', async () => {
    const plugin = mobilenetv2({ alpha: 0.5, weights: 'none' });
    const backbone = await plugin.build({ inputSize: 100, seed: 1 });
    expect(backbone.weights).toBe('random');
    expect(backbone.featureShape).toEqual(plugin.featureShape(100));
    expect(backbone.model.outputs[0]?.shape).toEqual([null, ...backbone.featureShape]);
    backbone.model.dispose();
  });

  it('loads a Keras .h5 given as weights and reproduces Keras features', async () => {
    const backbone = await mobilenetv2({ alpha: 0.35, weights: FIXTURE }).build({ inputSize: 96, seed: 1 });
    expect(backbone.weights).toBe(FIXTURE);
    const input = tf.tensor4d(readFloat32('input.bin'), [2, 96, 96, 3]);
    const out = backbone.model.predict(input) as tf.Tensor;
    const expected = readFloat32('features.bin');
    const diff = out.dataSync<'float32'>().reduce((max, v, i) => Math.max(max, Math.abs(v - (expected[i] ?? 0))), 0);
    expect(diff).toBeLessThan(1e-4);
    tf.dispose([input, out]);
    backbone.model.dispose();
  });

  it('reproduces Keras features as one TensorFlow inference graph too', async () => {
    const backbone = await mobilenetv2({ alpha: 0.35, weights: FIXTURE }).build({ inputSize: 96, seed: 1 });
    const inference = await compileInference(backbone.model);
    expect(inference.engine, inference.reason).toBe('graph');
    const input = tf.tensor4d(readFloat32('input.bin'), [2, 96, 96, 3]);
    const out = inference.predict(input);
    expect(out.shape).toEqual([2, 3, 3, 1280]);
    const expected = readFloat32('features.bin');
    const diff = out.dataSync<'float32'>().reduce((max, v, i) => Math.max(max, Math.abs(v - (expected[i] ?? 0))), 0);
    expect(diff).toBeLessThan(1e-4);
    tf.dispose([input, out]);
    inference.dispose();
    backbone.model.dispose();
  });

  it('rejects missing files and files for another alpha with messages that say what to do', async () => {
    await expect(mobilenetv2({ weights: path.join(tmp, 'nope.h5') }).build({ inputSize: 96, seed: 1 })).rejects.toThrow(
      /weights=.*nope\.h5: .*nope\.h5 does not exist; weights is 'imagenet', 'none' \(random, seeded\) or the path of a TF.js layers model directory/,
    );
    await expect(mobilenetv2({ alpha: 1, weights: FIXTURE }).build({ inputSize: 96, seed: 1 })).rejects.toThrow(
      /our layer "Conv1" and the file's layer "Conv1": kernel is \[3, 3, 3, 32\] in mobilenetv2 alpha 1\.0 but Conv1\/kernel:0 is \[3, 3, 3, 16\] in the file\. The file is probably for another alpha than 1\.0/,
    );
  });

  it('uses the bundled ImageNet weights when no Keras file is around', async () => {
    const saved = { HOME: process.env['HOME'], KERAS_HOME: process.env['KERAS_HOME'], HEADBENCH_WEIGHTS_DIR: process.env['HEADBENCH_WEIGHTS_DIR'] };
    Object.assign(process.env, { HOME: tmp, KERAS_HOME: tmp, HEADBENCH_WEIGHTS_DIR: tmp });
    try {
      const backbone = await mobilenetv2({ alpha: 0.35 }).build({ inputSize: 128, seed: 1 });
      expect(backbone.weights).toBe('imagenet (bundled tfjs, alpha 0.35, 224-trained)');
      expect(backbone.featureShape).toEqual([4, 4, 1280]);
      backbone.model.dispose();
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});

describe('composed with the heads of params.json (trainable and frozen)', () => {
  it.each(params.heads.map((r) => [r.head, r.classes, r.alpha, r.size, r] as const))('%s head, %s classes, alpha %s, %spx', async (kind, classes, alpha, size, row) => {
    for (const trainable of [true, false]) {
      const composed = await composeModel(mobilenetv2({ alpha, weights: 'none', trainable }), head(kind), { inputSize: size, classes, seed: 1 });
      const { total, trainable: t, nonTrainable, head: headParams } = composed.params;
      expect({ total, trainable: t, nonTrainable }).toEqual(trainable ? { total: row.total, trainable: row.trainable, nonTrainable: row.nonTrainable } : row.frozen);
      expect(headParams).toBe(row.headParams);
      expect(countParams(composed.model).total).toBe(row.total);
      composed.model.dispose();
    }
  });
});
