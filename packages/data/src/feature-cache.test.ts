import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '@headbench/errors';
import { cachedFeatures, clearFeatureCache, featureCacheDir, featureSplit, listFeatureCache, openFeatures, type FeatureKey, type FeatureRequest, type FeatureWriter } from './feature-cache.js';
import { smallDisk } from './small-disk.fixtures.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

// The killed-run test's child process runs this package's built JavaScript.
beforeAll(() => {
  execFileSync(process.execPath, [createRequire(import.meta.url).resolve('typescript/bin/tsc'), '-b'], { cwd: packageDir, stdio: 'pipe' });
});

let tmp: string;
let cacheDir: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-features-test-'));
  cacheDir = path.join(tmp, 'cache');
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const SHAPE = [2, 3, 4] as const;
const VALUES = 2 * 3 * 4;

function request(over: Partial<FeatureKey> = {}, rows = 10, root = cacheDir): FeatureRequest {
  return {
    key: { backbone: 'tiny@1.0.0', weights: 'ab'.repeat(32), inputSize: 32, images: '/cache/images/x-123-32px-bilinear', imagesCreatedAt: '2026-01-01T00:00:00.000Z', runtime: 'TensorFlow 2.21.0', ...over },
    folder: '/data/x',
    shape: SHAPE,
    rows,
    root,
  };
}

/** Row r holds r * 1000 + its value index, written in batches of 4 rows, counting the calls. */
function filler(calls: { n: number }, offset = 0): FeatureWriter {
  return async (write) => {
    calls.n += 1;
    for (let first = 0; first < 10; first += 4) {
      const n = Math.min(4, 10 - first);
      write(first, Float32Array.from({ length: n * VALUES }, (_, i) => (first + Math.floor(i / VALUES)) * 1000 + (i % VALUES) + offset));
      await Promise.resolve();
    }
  };
}

describe('the feature cache', () => {
  it('computes features once: a later request reads them, in memory or streamed, through any row order', async () => {
    const calls = { n: 0 };
    const first = await cachedFeatures(request(), filler(calls));
    expect(first.built).toBe(true);
    const again = await cachedFeatures(request(), filler(calls));
    expect([again.built, calls.n, again.dir, again.bytes]).toEqual([false, 1, first.dir, 10 * VALUES * 4]);
    const rows = Int32Array.from([7, 2, 9]);
    const labels = Int32Array.from([1, 0, 1]);
    const read: Float32Array[] = [];
    for (const storage of ['memory', 'stream'] as const) {
      const store = openFeatures(again, storage);
      const split = featureSplit(store, rows, labels, SHAPE);
      expect(split.storage).toBe(storage);
      read.push(await split.read(Int32Array.from([2, 0])));
      store.close();
    }
    expect(Array.from(read[0]!.subarray(0, 2))).toEqual([9000, 9001]);
    expect(Array.from(read[0]!.subarray(VALUES, VALUES + 2))).toEqual([7000, 7001]);
    expect(read[1]).toEqual(read[0]);
  });

  it('computes them again when the image folder changed (its image cache entry was rebuilt), replacing the old entry', async () => {
    const calls = { n: 0 };
    await cachedFeatures(request(), filler(calls));
    const changed = await cachedFeatures(request({ imagesCreatedAt: '2026-02-02T00:00:00.000Z' }), filler(calls, 0.5));
    expect(changed.built).toBe(true);
    expect(changed.rebuilt).toBe('its images were decoded again since (the image folder changed)');
    expect(listFeatureCache(cacheDir).map((e) => e.status)).toEqual(['ok']);
    const store = openFeatures(changed, 'memory');
    expect((await featureSplit(store, Int32Array.from([0]), Int32Array.from([0]), SHAPE).read(Int32Array.from([0])))[1]).toBe(1.5);
    // Another backbone's weights are another entry.
    await cachedFeatures(request({ weights: 'cd'.repeat(32) }), filler(calls));
    expect(listFeatureCache(cacheDir)).toHaveLength(2);
    expect(calls.n).toBe(3);
  });

  it('keeps nothing when computing fails half-way, and builds it whole next time', async () => {
    await expect(
      cachedFeatures(request(), async (write) => {
        write(0, new Float32Array(4 * VALUES));
        throw new Error('the backbone failed');
      }),
    ).rejects.toThrow('the backbone failed');
    expect(fs.readdirSync(featureCacheDir(cacheDir))).toEqual([]);
    await expect(cachedFeatures(request(), async (write) => write(0, new Float32Array(3 * VALUES)))).rejects.toThrow(/wrote 288 bytes of features where 960 were expected/);
    expect(fs.readdirSync(featureCacheDir(cacheDir))).toEqual([]);
    expect((await cachedFeatures(request(), filler({ n: 0 }))).built).toBe(true);
  });

  it('never reads the entry a killed run was writing, and removes it on the next build', async () => {
    const module = pathToFileURL(path.join(packageDir, 'dist', 'feature-cache.js')).href;
    const script = `
      import { cachedFeatures } from ${JSON.stringify(module)};
      const request = ${JSON.stringify(request())};
      await cachedFeatures(request, async (write) => {
        write(0, new Float32Array(4 * ${VALUES}).fill(7));
        process.stdout.write('half\\n');
        await new Promise(() => {});
      });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const killed = await new Promise<NodeJS.Signals | null>((resolve) => {
      child.stdout.once('data', () => child.kill('SIGKILL'));
      child.once('exit', (_code, signal) => resolve(signal));
    });
    expect(killed).toBe('SIGKILL');
    const left = listFeatureCache(cacheDir);
    expect(left.map((e) => e.status)).toEqual(['incomplete']);
    expect(path.basename(left[0]!.dir)).toMatch(new RegExp(`\\.partial-${child.pid}-`));
    const calls = { n: 0 };
    const built = await cachedFeatures(request(), filler(calls));
    expect([built.built, calls.n]).toEqual([true, 1]);
    expect(listFeatureCache(cacheDir).map((e) => e.status)).toEqual(['ok']);
    const store = openFeatures(built, 'stream');
    expect((await featureSplit(store, Int32Array.from([0]), Int32Array.from([0]), SHAPE).read(Int32Array.from([0])))[0]).toBe(0);
    store.close();
  });

  it('lists entries with backbone, folder and size, and clears them, all or one folder\'s, never the images beside them', async () => {
    await cachedFeatures(request(), filler({ n: 0 }));
    await cachedFeatures({ ...request({ images: '/cache/images/y-456-32px-bilinear' }), folder: '/data/y' }, filler({ n: 0 }));
    fs.mkdirSync(path.join(cacheDir, 'images', 'x'), { recursive: true });
    const entries = listFeatureCache(cacheDir);
    expect(entries.map((e) => [e.folder, e.inputSize, e.images, e.status, e.backbone]).sort()).toEqual([
      ['/data/x', 32, 10, 'ok', `tiny@1.0.0 (weights ${'ab'.repeat(6)})`],
      ['/data/y', 32, 10, 'ok', `tiny@1.0.0 (weights ${'ab'.repeat(6)})`],
    ]);
    for (const e of entries) expect(e.bytes).toBeGreaterThanOrEqual(10 * VALUES * 4);
    expect(clearFeatureCache(cacheDir, ['/data/x']).map((e) => e.folder)).toEqual(['/data/x']);
    expect(listFeatureCache(cacheDir).map((e) => e.folder)).toEqual(['/data/y']);
    expect(clearFeatureCache(cacheDir)).toHaveLength(1);
    expect(fs.readdirSync(featureCacheDir(cacheDir))).toEqual([]);
    expect(fs.existsSync(path.join(cacheDir, 'images', 'x'))).toBe(true);
  });
});

const disk = smallDisk('features');
const { mountPoint } = disk;

describe.skipIf(!disk.canMount)('the feature cache on a full disk (mounts a 4 MB tmpfs; skipped unless run as root)', () => {
  beforeEach(() => void disk.mount());
  afterEach(disk.unmount);
  afterAll(disk.remove);

  it('refuses before computing when the features cannot fit, and leaves nothing', async () => {
    const calls = { n: 0 };
    const big = { ...request({}, 10, mountPoint), shape: [64, 64, 64] as const };
    const error = await cachedFeatures(big, filler(calls)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(/^the feature cache needs 10 MB in .*features \(10 images of 64x64x64 features\) and .* are free; .*--no-feature-cache/);
    expect(calls.n).toBe(0);
    expect(fs.readdirSync(featureCacheDir(mountPoint))).toEqual([]);
  });

  it('a disk that fills up while features are written: one clear error, nothing half-written kept, the next run builds them', async () => {
    const filler2 = path.join(mountPoint, 'filler');
    const error = await cachedFeatures(request({}, 10, mountPoint), async (write) => {
      // Someone else takes the rest of the disk after the check.
      const s = fs.statfsSync(mountPoint);
      try {
        fs.writeFileSync(filler2, Buffer.alloc(s.bavail * s.bsize));
      } catch {
        // Full: what it wrote stays.
      }
      for (let first = 0; first < 10; first++) write(first, new Float32Array(VALUES * 1).fill(1));
      write(0, new Float32Array(VALUES * 10).fill(2));
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(/^the feature cache in .*features ran out of disk space \(it needs 960 B\); nothing half-written was kept/);
    expect(fs.readdirSync(featureCacheDir(mountPoint))).toEqual([]);
    fs.rmSync(filler2);
    expect((await cachedFeatures(request({}, 10, mountPoint), filler({ n: 0 }))).built).toBe(true);
  });
});
