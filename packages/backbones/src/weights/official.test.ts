import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { tf, UsageError } from '@headbench/core';
import { mobileNetV3 } from '../mobilenetv3.js';
import { efficientNetWeightFile, mobileNetV3WeightFile, resNetWeightFile } from '../plugins.js';
import { KERAS_DIR, weightsDigest } from '../testing/fixtures.js';
import type { LoadTarget } from './assign.js';
import { loadKerasH5 } from './keras-h5.js';
import { kerasUrl, loadOfficialWeights, officialSources, type KerasWeightFile } from './official.js';
import type { ImagenetSources } from './imagenet.js';

// The download path of weights=imagenet against a local server serving a Keras-written file (the
// seeded MobileNetV3Small 1.0 fixture at 64 px: the layout of the official file, not its values).
// Its hash is not the official one, so the tests hand the loader a file record with its md5.

const FIXTURE = path.join(KERAS_DIR, 'mobilenetv3small_1.0_64', 'weights.h5');
const BYTES = readFileSync(FIXTURE);
const MD5 = createHash('md5').update(BYTES).digest('hex');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'headbench-official-'));
const requests: string[] = [];
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (req.url?.includes('missing')) return void res.writeHead(404).end();
    const body = req.url?.includes('truncated') ? BYTES.subarray(0, BYTES.length >> 1) : BYTES;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/keras/`;
});
afterAll(() => {
  server.close();
  rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
const freshDir = () => {
  const dir = path.join(tmp, `d${n++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};
const sources = (overrides: Partial<ImagenetSources> = {}): ImagenetSources => {
  const dir = freshDir();
  return { dirs: [dir], cacheDir: dir, bundledDir: freshDir(), baseUrl, ...overrides };
};
const small = (alpha = 1) => mobileNetV3({ type: 'small', alpha, minimalistic: false, inputSize: 64, seed: 5 });
const target = (model: tf.LayersModel, label = 'mobilenetv3small alpha 1.0'): LoadTarget => ({ model, label, mismatchHint: 'HINT' });
/** The official record for MobileNetV3Small 1.0 with the fixture's md5 in place of Keras'. */
const served = (overrides: Partial<KerasWeightFile> = {}): KerasWeightFile => ({ ...mobileNetV3WeightFile('small', 1, false), hash: MD5, ...overrides });

describe("Keras' official files", () => {
  it("have the names, URLs and hashes of Keras' architecture files", () => {
    expect(kerasUrl(mobileNetV3WeightFile('small', 1, false))).toBe('https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5');
    expect(mobileNetV3WeightFile('large', 0.75, false)).toMatchObject({ fileName: 'weights_mobilenet_v3_large_224_0.75_float_no_top_v2.h5', hash: '40af19a13ebea4e2ee0c676887f69a2e' });
    expect(mobileNetV3WeightFile('small', 1, true).fileName).toBe('weights_mobilenet_v3_small_minimalistic_224_1.0_float_no_top_v2.h5');
    expect(kerasUrl(efficientNetWeightFile())).toBe('https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5');
    expect(kerasUrl(resNetWeightFile('v1'))).toBe('https://storage.googleapis.com/tensorflow/keras-applications/resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5');
    expect(resNetWeightFile('v2')).toMatchObject({ fileName: 'resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5', hash: 'fac2f116257151a9d068a22e544a4917' });
    expect(() => mobileNetV3WeightFile('small', 0.75, true)).toThrow(/minimalistic only at alpha 1.0/);
    expect(officialSources(resNetWeightFile('v1'), { HEADBENCH_WEIGHTS_DIR: '/w' })).toMatchObject({ dirs: ['/w', path.join(os.homedir(), '.keras', 'models')], cacheDir: '/w', baseUrl: 'https://storage.googleapis.com/tensorflow/keras-applications/resnet/' });
  });

  it('load from the first searched folder that has the file, checking its hash', async () => {
    const [a, b] = [freshDir(), freshDir()];
    copyFileSync(FIXTURE, path.join(b, served().fileName));
    const model = small();
    const used = await loadOfficialWeights(target(model), served(), sources({ dirs: [a, b], baseUrl: undefined }));
    expect(used).toBe(`imagenet (keras h5, md5 verified: ${path.join(b, served().fileName)})`);
    const reference = small();
    await loadKerasH5(FIXTURE, target(reference));
    expect(weightsDigest(model)).toBe(weightsDigest(reference));
    // The real record's hash is Keras' md5, which this file does not have.
    await expect(loadOfficialWeights(target(model), mobileNetV3WeightFile('small', 1, false), sources({ dirs: [b], baseUrl: undefined }))).rejects.toThrow(
      new RegExp(`has md5 ${MD5}, but Keras' weights_mobilenet_v3_small_224_1\\.0_float_no_top_v2\\.h5 has d3e8ec802a04aa4fc771ee12a9a9b836; the file is damaged or not the official one`),
    );
    model.dispose();
    reference.dispose();
    expect(requests).toEqual([]);
  });

  it('download into the cache with progress when no folder has it, then reuse it', async () => {
    const lines: string[] = [];
    const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (lines.push(String(chunk)), true));
    const src = sources();
    const model = small();
    let used: string;
    try {
      used = await loadOfficialWeights(target(model), served(), src);
    } finally {
      write.mockRestore();
    }
    const file = path.join(src.cacheDir, served().fileName);
    expect(used).toBe(`imagenet (keras h5, downloaded, md5 verified: ${file})`);
    expect(requests.splice(0)).toEqual([`/keras/${served().fileName}`]);
    expect(lines.join('')).toContain(`downloading ${served().fileName} (${(BYTES.length / 1e6).toFixed(1)} MB)`);
    expect(lines.join('')).toContain('100%');
    expect(readdirSync(src.cacheDir)).toEqual([served().fileName]);
    const again = await loadOfficialWeights(target(model), served(), src);
    expect(again).toBe(`imagenet (keras h5, md5 verified: ${file})`);
    expect(requests).toEqual([]);
    model.dispose();
  });

  it('keep nothing from a download with the wrong hash (the official record, or a truncated file)', async () => {
    const src = sources();
    const model = small();
    const silent = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await expect(loadOfficialWeights(target(model), mobileNetV3WeightFile('small', 1, false), src)).rejects.toThrow(
        new RegExp(`sent ${BYTES.length} bytes with md5 ${MD5}, not the published d3e8ec802a04aa4fc771ee12a9a9b836; nothing was saved`),
      );
      await expect(loadOfficialWeights(target(model), served(), { ...src, baseUrl: `${baseUrl}truncated/` })).rejects.toThrow(/bytes with md5 \w+, not the published \w+; nothing was saved/);
    } finally {
      silent.mockRestore();
    }
    expect(readdirSync(src.cacheDir)).toEqual([]);
    requests.splice(0);
    model.dispose();
  });

  it('refuse a file for another alpha or architecture, naming the first layer that does not fit', async () => {
    const silent = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const narrow = small(0.75);
      await expect(loadOfficialWeights(target(narrow, 'mobilenetv3small alpha 0.75'), served({ label: 'mobilenetv3small alpha 0.75' }), sources())).rejects.toThrow(
        /our layer "expanded_conv_depthwise" and the file's layer "expanded_conv_depthwise": depthwise_kernel is \[3, 3, 16, 1\] in mobilenetv3small alpha 0.75 but .* is \[3, 3, 16, 1\]|our layer "\w+" and the file's layer "\w+": \w+ is \[[\d, ]+\] in mobilenetv3small alpha 0.75 but \S+ is \[[\d, ]+\] in the file\. HINT/,
      );
      narrow.dispose();
      const large = mobileNetV3({ type: 'large', alpha: 1, minimalistic: false, inputSize: 64, seed: 5 });
      await expect(loadOfficialWeights(target(large, 'mobilenetv3large alpha 1.0'), served({ label: 'mobilenetv3large alpha 1.0' }), sources())).rejects.toThrow(
        /mobilenetv3large alpha 1.0 has \d+ layers with weights \(first difference at position \d+: our "\w+", the file's "\w+"\); it is a weights file for another model/,
      );
      large.dispose();
    } finally {
      silent.mockRestore();
    }
    requests.splice(0);
  });

  it('say which file to put where when it is nowhere and cannot be downloaded', async () => {
    const model = small();
    const src = sources({ baseUrl: `${baseUrl}missing/` });
    const error = await loadOfficialWeights(target(model), resNetWeightFile('v1'), src).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(
      `resnet50: no ImageNet weights. Put Keras' file resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5 into ${src.dirs[0]} (HEADBENCH_WEIGHTS_DIR adds a folder), ` +
        'from https://storage.googleapis.com/tensorflow/keras-applications/resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5 (md5 4d473c1dd8becc155b73f8504c6f6626). ' +
        `Or use weights=none, or weights=<a Keras .h5 file or TF.js layers model directory>. (download from ${baseUrl}missing/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5 failed: HTTP 404 Not Found)`,
    );
    requests.splice(0);
    model.dispose();
  });
});
