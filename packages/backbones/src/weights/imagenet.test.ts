import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { tf, UsageError } from '@headbench/core';
import { mobileNetV2 } from '../architecture.js';
import { H5_FIXTURE_DIR, PACKAGE_DIR, weightsDigest } from '../testing/fixtures.js';
import type { LoadTarget } from './assign.js';
import { defaultSources, kerasAlpha, kerasFileName, KNOWN_SHA256, loadImagenet, type ImagenetSources } from './imagenet.js';
import { loadKerasH5 } from './keras-h5.js';
import { loadTfjsDir } from './tfjs-dir.js';

const FIXTURE = path.join(H5_FIXTURE_DIR, 'weights.h5');
const BUNDLED = path.join(PACKAGE_DIR, 'weights');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'headbench-imagenet-'));
const requests: string[] = [];
let server: Server;
let baseUrl: string;
let closedPort: number;

beforeAll(async () => {
  // Serves the Keras fixture under any file name, like Keras' bucket would serve the real files.
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (req.url?.includes('missing')) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(FIXTURE));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/keras/`;
  // A port that was just free: connecting to it is refused at once.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
});
afterAll(() => {
  server.close();
  rmSync(tmp, { recursive: true, force: true });
});

let counter = 0;
function freshDir(): string {
  const dir = path.join(tmp, `d${counter++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Sources with nothing in them unless a test adds it: empty folders, no bundled weights, no downloads. */
function sources(overrides: Partial<ImagenetSources> = {}): ImagenetSources {
  const dir = freshDir();
  return { dirs: [dir], cacheDir: dir, bundledDir: freshDir(), baseUrl: undefined, ...overrides };
}

const target = (model: tf.LayersModel): LoadTarget => ({ model, label: 'mobilenetv2', mismatchHint: 'HINT' });

async function referenceDigest(load: (model: tf.LayersModel) => Promise<void>, alpha: number): Promise<string> {
  const model = mobileNetV2({ alpha, inputSize: 96, seed: 9 });
  await load(model);
  const digest = weightsDigest(model);
  model.dispose();
  return digest;
}

describe('Keras file names', () => {
  it('format alpha as str(float(alpha)) and fall back to the 224 checkpoint for other sizes', () => {
    expect([0.35, 0.5, 0.75, 1.0, 1.3, 1.4].map(kerasAlpha)).toEqual(['0.35', '0.5', '0.75', '1.0', '1.3', '1.4']);
    expect(kerasFileName(1, 224)).toBe('mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5');
    expect(kerasFileName(0.35, 96)).toBe('mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5');
    expect([96, 128, 160, 192, 224, 32, 100, 256].map((s) => kerasFileName(0.5, s).match(/_(\d+)_no_top/)?.[1])).toEqual(['96', '128', '160', '192', '224', '224', '224', '224']);
  });

  it('look in HEADBENCH_WEIGHTS_DIR, then $KERAS_HOME/models, then ~/.keras/models', () => {
    expect(defaultSources({ HEADBENCH_WEIGHTS_DIR: '/w', KERAS_HOME: '/k' })).toMatchObject({ dirs: ['/w', '/k/models', path.join(os.homedir(), '.keras', 'models')], cacheDir: '/w' });
    expect(defaultSources({})).toMatchObject({ dirs: [path.join(os.homedir(), '.keras', 'models')], cacheDir: path.join(os.homedir(), '.keras', 'models') });
    expect(defaultSources({}).bundledDir).toBe(BUNDLED + path.sep);
  });
});

describe('ImageNet weights', () => {
  it('prefer the official Keras file in a searched folder (first folder that has it)', async () => {
    const [a, b] = [freshDir(), freshDir()];
    copyFileSync(FIXTURE, path.join(b, kerasFileName(0.35, 96)));
    const model = mobileNetV2({ alpha: 0.35, inputSize: 96, seed: 9 });
    const used = await loadImagenet(target(model), { alpha: 0.35, inputSize: 96 }, sources({ dirs: [a, b], bundledDir: BUNDLED }));
    expect(used).toBe(`imagenet (keras h5, alpha 0.35, 96-trained, sha256 ${'044fb378e24d0b808e0fb1f1c9408ec3ad4d174ae4bb6b902853fa82cb4c91fe'} unverified: ${path.join(b, kerasFileName(0.35, 96))})`);
    expect(weightsDigest(model)).toBe(await referenceDigest((m) => loadKerasH5(FIXTURE, target(m)), 0.35));
    model.dispose();
  });

  it('refuse a local file whose hash differs from the published one', async () => {
    const dir = freshDir();
    copyFileSync(FIXTURE, path.join(dir, kerasFileName(0.35, 224)));
    const model = mobileNetV2({ alpha: 0.35, inputSize: 224, seed: 9 });
    await expect(loadImagenet(target(model), { alpha: 0.35, inputSize: 224 }, sources({ dirs: [dir], bundledDir: BUNDLED }))).rejects.toThrow(
      new RegExp(`has sha256 044fb378\\w+, but Keras' ${kerasFileName(0.35, 224).replace(/\./g, '\\.')} has ${KNOWN_SHA256[kerasFileName(0.35, 224)]}`),
    );
    model.dispose();
  });

  it.each([1.0, 0.35])('use the bundled TF.js weights for alpha %s when no Keras file is found', async (alpha) => {
    const model = mobileNetV2({ alpha, inputSize: 96, seed: 9 });
    const used = await loadImagenet(target(model), { alpha, inputSize: 96 }, sources({ bundledDir: BUNDLED, baseUrl }));
    expect(used).toBe(`imagenet (bundled tfjs, alpha ${kerasAlpha(alpha)}, 224-trained)`);
    const dir = path.join(BUNDLED, `mobilenet_v2_${kerasAlpha(alpha)}_224_no_top_tfjs`);
    expect(weightsDigest(model)).toBe(await referenceDigest((m) => loadTfjsDir(dir, target(m)), alpha));
    expect(requests).toEqual([]);
    model.dispose();
  });

  it('download the official file into the cache when nothing local fits, warn that it is unverified, then reuse it', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const src = sources({ baseUrl });
    const file = path.join(src.cacheDir, kerasFileName(0.35, 96));
    const model = mobileNetV2({ alpha: 0.35, inputSize: 96, seed: 9 });
    const used = await loadImagenet(target(model), { alpha: 0.35, inputSize: 96 }, src);
    expect(used).toBe(`imagenet (keras h5, alpha 0.35, 96-trained, downloaded, sha256 044fb378e24d0b808e0fb1f1c9408ec3ad4d174ae4bb6b902853fa82cb4c91fe unverified: ${file})`);
    expect(requests.splice(0)).toEqual([`/keras/${kerasFileName(0.35, 96)}`]);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/sha256 044fb378\w+, which could not be verified/));
    expect(readdirSync(src.cacheDir)).toEqual([kerasFileName(0.35, 96)]);
    expect(weightsDigest(model)).toBe(await referenceDigest((m) => loadKerasH5(FIXTURE, target(m)), 0.35));

    const again = await loadImagenet(target(model), { alpha: 0.35, inputSize: 96 }, src);
    expect(again).toMatch(/^imagenet \(keras h5, alpha 0.35, 96-trained, sha256 \w+ unverified: /);
    expect(requests).toEqual([]);
    warn.mockRestore();
    model.dispose();
  });

  it('keep nothing when a download does not have the published hash', async () => {
    const src = sources({ baseUrl });
    const model = mobileNetV2({ alpha: 0.35, inputSize: 224, seed: 9 });
    await expect(loadImagenet(target(model), { alpha: 0.35, inputSize: 224 }, src)).rejects.toThrow(/sha256 044fb378\w+, not the published df1c3db1\w+; nothing was saved/);
    expect(requests.splice(0)).toHaveLength(1);
    expect(readdirSync(src.cacheDir)).toEqual([]);
    model.dispose();
  });

  it('say where to put which file when nothing is found and the download fails', async () => {
    const model = mobileNetV2({ alpha: 0.5, inputSize: 128, seed: 9 });
    const src = sources({ baseUrl: `http://127.0.0.1:${closedPort}/` });
    const error = await loadImagenet(target(model), { alpha: 0.5, inputSize: 128 }, src).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    const message = (error as Error).message;
    expect(message).toContain(`no ImageNet weights for alpha 0.5 at 128 px. Put Keras' file mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_128_no_top.h5 into ${src.dirs[0]}`);
    expect(message).toContain('https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_128_no_top.h5');
    expect(message).toContain('Bundled weights cover alpha 1.0 and 0.35 only');
    expect(message).toMatch(/download from http:\/\/127\.0\.0\.1:\d+\/\S+ failed: fetch failed: ECONNREFUSED\)$/);

    const missing = await loadImagenet(target(model), { alpha: 0.5, inputSize: 128 }, sources({ baseUrl: `${baseUrl}missing/` })).catch((e: unknown) => e);
    expect((missing as Error).message).toMatch(/failed: HTTP 404/);
    requests.splice(0);
    expect(existsSync(path.join(src.cacheDir, kerasFileName(0.5, 128)))).toBe(false);
    model.dispose();
  });
});
