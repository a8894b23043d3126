import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tf, UsageError } from '@headbench/core';
import { mobileNetV2 } from '../architecture.js';
import { PACKAGE_DIR, sharedData, weightsDigest } from '../testing/fixtures.js';
import type { LoadTarget } from './assign.js';
import { loadTfjsDir } from './tfjs-dir.js';

const BUNDLED = path.join(PACKAGE_DIR, 'weights');
const { dir: SHARED, reason: SHARED_REASON } = sharedData();
if (!SHARED) console.warn(`[tfjs-dir.test] shared ImageNet weights ${SHARED_REASON}`);
const DIRS = { '1.0': 'mobilenet_v2_1.0_224_no_top_tfjs', '0.35': 'mobilenet_v2_0.35_224_no_top_tfjs' } as const;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'headbench-tfjs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const target = (model: tf.LayersModel, alpha: number): LoadTarget => ({ model, label: `mobilenetv2 alpha ${alpha}`, mismatchHint: 'HINT: another alpha?' });

interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: string;
}

/** The file's tensors by name as raw bytes, read independently of the loader. */
function fileTensors(dir: string): Map<string, { shape: number[]; bytes: Buffer }> {
  const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[]; weights: ManifestEntry[] }[] };
  const out = new Map<string, { shape: number[]; bytes: Buffer }>();
  for (const group of json.weightsManifest) {
    const data = Buffer.concat(group.paths.map((p) => readFileSync(path.join(dir, p))));
    let offset = 0;
    for (const { name, shape, dtype } of group.weights) {
      expect(dtype).toBe('float32');
      const size = shape.reduce((a, b) => a * b, 1) * 4;
      out.set(name, { shape, bytes: data.subarray(offset, offset + size) });
      offset += size;
    }
  }
  return out;
}

/** Loads `dir` and checks that every model weight holds exactly the file's bytes for its name, and every file tensor was used. */
async function expectExactLoad(dir: string, alpha: number) {
  const model = mobileNetV2({ alpha, inputSize: 224, seed: 5 });
  await loadTfjsDir(dir, target(model, alpha));
  const file = fileTensors(dir);
  const seen = new Set<string>();
  for (const layer of model.layers) {
    for (const w of layer.weights) {
      const name = `${layer.name}/${w.originalName.split('/').pop()}`;
      const expected = file.get(name);
      expect(expected, name).toBeDefined();
      expect(w.shape, name).toEqual(expected?.shape);
      expect(Buffer.from(w.read().dataSync<'float32'>().buffer).equals(expected?.bytes as Buffer), name).toBe(true);
      seen.add(name);
    }
  }
  expect([...file.keys()].filter((name) => !seen.has(name))).toEqual([]);
  expect(seen.size).toBe(260);
  model.dispose();
}

describe.skipIf(!SHARED)(`ImageNet TF.js weights from shared data (${SHARED_REASON})`, () => {
  it.each(Object.entries(DIRS))('alpha %s loads by name, every tensor assigned byte for byte', async (alpha, dir) => {
    await expectExactLoad(path.join(SHARED as string, 'weights', dir), Number(alpha));
  });

  it('the bundled copies are byte-identical to shared data', () => {
    for (const dir of Object.values(DIRS)) {
      for (const file of ['model.json', ...fileTensorsPaths(path.join(BUNDLED, dir))]) {
        expect(readFileSync(path.join(BUNDLED, dir, file)).equals(readFileSync(path.join(SHARED as string, 'weights', dir, file))), `${dir}/${file}`).toBe(true);
      }
    }
  });
});

function fileTensorsPaths(dir: string): string[] {
  const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
  return json.weightsManifest.flatMap((g) => g.paths);
}

describe('bundled ImageNet TF.js weights', () => {
  it('match their SHA256SUMS', () => {
    const lines = readFileSync(path.join(BUNDLED, 'SHA256SUMS'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(6);
    for (const line of lines) {
      const [hash, file] = line.split(/\s+/);
      expect(createHash('sha256').update(readFileSync(path.join(BUNDLED, file as string))).digest('hex'), file).toBe(hash);
    }
  });

  it.each(Object.entries(DIRS))('alpha %s loads by name, every tensor assigned byte for byte', async (alpha, dir) => {
    await expectExactLoad(path.join(BUNDLED, dir), Number(alpha));
  });

  it("matches on layer and short weight name, not tfjs' process-unique variable names", async () => {
    const first = mobileNetV2({ alpha: 0.35, inputSize: 96, seed: 1 });
    const second = mobileNetV2({ alpha: 0.35, inputSize: 96, seed: 1 });
    const conv1 = second.getLayer('Conv1').weights[0];
    expect(conv1?.originalName).toBe('Conv1/kernel');
    expect(conv1?.name).toMatch(/^Conv1\/kernel_\d+$/);
    await loadTfjsDir(path.join(BUNDLED, DIRS['0.35']), target(second, 0.35));
    await loadTfjsDir(path.join(BUNDLED, DIRS['0.35']), target(first, 0.35));
    expect(weightsDigest(second)).toBe(weightsDigest(first));
    first.dispose();
    second.dispose();
  });
});

describe('TF.js weights that do not fit', () => {
  /** A copy of the bundled 0.35 directory with an edited manifest (and optionally extra bytes). */
  function editedCopy(name: string, edit: (weights: ManifestEntry[]) => ManifestEntry[], extraBytes = 0): string {
    const dir = path.join(tmp, name);
    cpSync(path.join(BUNDLED, DIRS['0.35']), dir, { recursive: true });
    const file = path.join(dir, 'model.json');
    const json = JSON.parse(readFileSync(file, 'utf8')) as { weightsManifest: { paths: string[]; weights: ManifestEntry[] }[] };
    const group = json.weightsManifest[0] as { paths: string[]; weights: ManifestEntry[] };
    group.weights = edit(group.weights);
    writeFileSync(file, JSON.stringify(json));
    if (extraBytes) appendFileSync(path.join(dir, group.paths[0] as string), Buffer.alloc(extraBytes));
    return dir;
  }

  it('reject the 0.35 weights for alpha 0.5, naming the layer, both shapes and the hint', async () => {
    const model = mobileNetV2({ alpha: 0.5, inputSize: 96, seed: 1 });
    const error = await loadTfjsDir(path.join(BUNDLED, DIRS['0.35']), target(model, 0.5)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(/do not fit mobilenetv2 alpha 0.5: layer "block_1_project" kernel is \[1, 1, 48, 16\] in mobilenetv2 alpha 0.5 but \[1, 1, 48, 8\] in the file;/);
    expect((error as Error).message).toMatch(/and \d+ more\. HINT: another alpha\?$/);
    model.dispose();
  });

  it('reject a missing tensor and load nothing', async () => {
    const dir = editedCopy('missing-tensor', (weights) => weights.filter((w) => w.name !== 'Conv_1_bn/moving_variance'));
    const model = mobileNetV2({ alpha: 0.35, inputSize: 96, seed: 1 });
    const before = weightsDigest(model);
    await expect(loadTfjsDir(dir, target(model, 0.35))).rejects.toThrow(/layer "Conv_1_bn" needs moving_variance \[1280\] but the file has no tensor Conv_1_bn\/moving_variance/);
    expect(weightsDigest(model)).toBe(before);
    model.dispose();
  });

  it('reject an extra tensor', async () => {
    const dir = editedCopy('extra-tensor', (weights) => [...weights, { name: 'Logits/kernel', shape: [2, 3], dtype: 'float32' }], 24);
    const model = mobileNetV2({ alpha: 0.35, inputSize: 96, seed: 1 });
    await expect(loadTfjsDir(dir, target(model, 0.35))).rejects.toThrow(/the file's tensor Logits\/kernel \[2, 3\] belongs to no layer of mobilenetv2 alpha 0.35/);
    model.dispose();
  });

  it('say clearly what is missing on disk', async () => {
    const model = mobileNetV2({ alpha: 0.35, inputSize: 96, seed: 1 });
    await expect(loadTfjsDir(path.join(tmp, 'nowhere'), target(model, 0.35))).rejects.toThrow(/model\.json does not exist; a TF.js layers model directory holds model.json and its weight shards/);
    const dir = editedCopy('no-shard', (weights) => weights);
    rmSync(path.join(dir, 'weights.bin'));
    await expect(loadTfjsDir(dir, target(model, 0.35))).rejects.toThrow(/weight shard weights.bin, listed in model.json, cannot be read \(ENOENT\)/);
    writeFileSync(path.join(dir, 'weights.bin'), Buffer.alloc(1000));
    await expect(loadTfjsDir(dir, target(model, 0.35))).rejects.toThrow(/the shards do not hold the tensors model.json lists/);
    model.dispose();
  });
});
