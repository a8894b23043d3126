import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import h5wasm from 'h5wasm/node';
import { afterAll, describe, expect, it } from 'vitest';
import { tf, UsageError } from '@headbench/core';
import { mobileNetV2 } from '../architecture.js';
import { H5_FIXTURE_DIR, meta, readFloat32, weightsDigest } from '../testing/fixtures.js';
import { readLayers, writeLayers, type SavedLayer } from '../testing/keras-h5-writer.js';
import type { LoadTarget } from './assign.js';
import { loadKerasH5 } from './keras-h5.js';

const FIXTURE = path.join(H5_FIXTURE_DIR, 'weights.h5');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'headbench-h5-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const target = (model: tf.LayersModel, alpha = 0.35): LoadTarget => ({ model, label: `mobilenetv2 alpha ${alpha}`, mismatchHint: 'HINT: another alpha?' });
const build = (alpha = 0.35) => mobileNetV2({ alpha, inputSize: 96, seed: 3 });

/** Writes a variant of the fixture and returns its path. */
async function variant(name: string, edit: (layers: SavedLayer[]) => SavedLayer[], options?: Parameters<typeof writeLayers>[2]) {
  const file = path.join(tmp, name);
  await writeLayers(file, edit(await readLayers(FIXTURE)), options);
  return file;
}

describe('Keras legacy HDF5 weights', () => {
  it('reproduce Keras features for the fixture within 1e-4 (inference mode)', async () => {
    const model = build();
    await loadKerasH5(FIXTURE, target(model));
    const input = tf.tensor4d(readFloat32('input.bin'), [2, 96, 96, 3]);
    const features = model.predict(input) as tf.Tensor;
    expect(features.shape).toEqual([2, 3, 3, 1280]);
    const got = features.dataSync();
    const expected = readFloat32('features.bin');
    let maxDiff = 0;
    for (let i = 0; i < expected.length; i++) maxDiff = Math.max(maxDiff, Math.abs((got[i] ?? Number.NaN) - (expected[i] ?? 0)));
    console.info(`[keras-h5] max |features - Keras| = ${maxDiff.toExponential(3)} over ${expected.length} values`);
    expect(maxDiff).toBeLessThan(1e-4);
    tf.dispose([input, features]);
    model.dispose();
  });

  it('assign every file dataset, in Keras order, to the matching weight', async () => {
    const model = build();
    await loadKerasH5(FIXTURE, target(model));
    const saved = (await readLayers(FIXTURE)).filter((l) => l.weights.length > 0);
    const layers = model.layers.filter((l) => l.weights.length > 0);
    expect(layers.map((l) => l.name)).toEqual(saved.map((l) => l.name));
    for (const [k, layer] of layers.entries()) {
      const file = saved[k]?.weights.map((w) => Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength)) ?? [];
      const ours = layer.weights.map((w) => Buffer.from(w.read().dataSync<'float32'>().buffer));
      expect(ours.length, layer.name).toBe(file.length);
      for (const [i, bytes] of ours.entries()) expect(bytes.equals(file[i] as Buffer), `${layer.name} ${layer.weights[i]?.originalName}`).toBe(true);
    }
    expect(meta.layers.filter((l) => l.weights.length > 0)).toHaveLength(layers.length);
    model.dispose();
  });

  it('read chunked layer_names (layer_names0, 1, ...) and variable-length strings alike', async () => {
    const reference = build();
    await loadKerasH5(FIXTURE, target(reference));
    for (const [name, options] of [
      ['chunked.h5', { chunks: 3 }],
      ['vlen.h5', { vlen: true }],
      ['chunked-vlen.h5', { chunks: 2, vlen: true }],
    ] as const) {
      const file = await variant(name, (layers) => layers, options);
      const model = build();
      await loadKerasH5(file, target(model));
      expect(weightsDigest(model), name).toEqual(weightsDigest(reference));
      model.dispose();
    }
    reference.dispose();
  });

  it('load by topology, as Keras does: layer names in the file are not compared', async () => {
    const file = await variant('renamed.h5', (layers) => layers.map((l) => ({ ...l, name: `other_${l.name}` })));
    const model = build();
    await loadKerasH5(file, target(model));
    const reference = build();
    await loadKerasH5(FIXTURE, target(reference));
    expect(weightsDigest(model)).toEqual(weightsDigest(reference));
    model.dispose();
    reference.dispose();
  });

  it('reject a file for another alpha, naming both layers, both shapes and the hint', async () => {
    const model = build(1.0);
    const error = await loadKerasH5(FIXTURE, target(model, 1.0)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(/our layer "Conv1" and the file's layer "Conv1": kernel is \[3, 3, 3, 32\] in mobilenetv2 alpha 1 but Conv1\/kernel:0 is \[3, 3, 3, 16\] in the file\. HINT/);
    model.dispose();
  });

  it('reject a layer count mismatch, naming where the lists differ', async () => {
    const file = await variant('short.h5', (layers) => layers.filter((l) => l.name !== 'Conv_1_bn'));
    const model = build();
    await expect(loadKerasH5(file, target(model))).rejects.toThrow(/weights for 103 layers but mobilenetv2 alpha 0.35 has 104 .*our "Conv_1_bn", the file's "\(none\)"/);
    model.dispose();
  });

  it('reject a weight count mismatch within a layer', async () => {
    const file = await variant('two-bn-weights.h5', (layers) => layers.map((l) => (l.name === 'bn_Conv1' ? { ...l, weights: l.weights.slice(0, 2) } : l)));
    const model = build();
    await expect(loadKerasH5(file, target(model))).rejects.toThrow(/our layer "bn_Conv1" and the file's layer "bn_Conv1" \(position 2\) differ in weight count: ours has 4 \(gamma, beta, moving_mean, moving_variance\), the file's has 2/);
    model.dispose();
  });

  it('never load part of a file: a bad last layer leaves every weight as it was', async () => {
    const file = await variant('bad-last.h5', (layers) =>
      layers.map((l) => (l.name === 'Conv_1_bn' ? { ...l, weights: l.weights.map((w) => ({ ...w, shape: [640], data: w.data.slice(0, 640) })) } : l)),
    );
    const model = build();
    const before = weightsDigest(model);
    await expect(loadKerasH5(file, target(model))).rejects.toThrow(/"Conv_1_bn".*gamma is \[1280\] .* is \[640\] in the file/);
    expect(weightsDigest(model)).toEqual(before);
    model.dispose();
  });

  it('reject files that are not Keras weight files with a clear message', async () => {
    const model = build();
    await expect(loadKerasH5(path.join(H5_FIXTURE_DIR, 'input.bin'), target(model))).rejects.toThrow(/not a readable HDF5 file \(file signature not found\)/);
    await expect(loadKerasH5(path.join(tmp, 'missing.h5'), target(model))).rejects.toThrow(/not a readable HDF5 file/);
    const empty = path.join(tmp, 'empty.h5');
    await h5wasm.ready;
    new h5wasm.File(empty, 'w').close();
    await expect(loadKerasH5(empty, target(model))).rejects.toThrow(/no layer_names attribute/);
    model.dispose();
  });
});
