import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { tf } from '@headbench/engine';
import type { DatasetEvent } from './dataset.js';
import { decodeResize } from './decode.js';
import { CACHE_VERSION, clearImageCache, imageCacheDir, listImageCache } from './image-cache.js';
import { imageFolderDataset, type ImageFolderOptions } from './image-folder.js';
import { smallDisk } from './small-disk.fixtures.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

// Decode workers run this package's built JavaScript (dist/decode-worker.js), as the child process below does.
beforeAll(() => {
  execFileSync(process.execPath, [createRequire(import.meta.url).resolve('typescript/bin/tsc'), '-b'], { cwd: packageDir, stdio: 'pipe' });
});

let tmp: string;
let cacheDir: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-cache-test-'));
  cacheDir = path.join(tmp, 'cache');
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** `perClass` JPEGs per class of seeded noise over smooth colour, of differing sizes (and one PNG). */
async function makeFolder(dir: string, perClass: number, classes = ['a', 'b']): Promise<string[]> {
  const files: string[] = [];
  for (const [c, name] of classes.entries()) {
    fs.mkdirSync(path.join(dir, name), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const seed = c * 1000 + i;
      const [h, w] = [37 + ((i * 7) % 23), 41 + ((i * 11) % 29)];
      const image = tf.tidy(() =>
        tf.image
          .resizeBilinear(tf.randomUniform([4, 4, 3], 0, 255, 'float32', seed) as tf.Tensor3D, [h, w])
          .add(tf.randomUniform([h, w, 3], -30, 30, 'float32', seed + 1))
          .clipByValue(0, 255)
          .toInt(),
      ) as tf.Tensor3D;
      const png = i === 1;
      const bytes = png ? await tf.node.encodePng(image) : await tf.node.encodeJpeg(image, 'rgb', 90);
      image.dispose();
      const file = path.join(dir, name, `img${i}.${png ? 'png' : 'jpg'}`);
      fs.writeFileSync(file, bytes);
      files.push(file);
    }
  }
  return files;
}

function open(options: Partial<ImageFolderOptions> & { train: string }, events: DatasetEvent[] = []) {
  return imageFolderDataset({ valSplit: 0.25, seed: 1, cacheDir, decodeWorkers: 0, onEvent: (e) => events.push(e), ...options });
}

async function allPixels(ds: ReturnType<typeof open>, size: number): Promise<{ train: Uint8Array; val: Uint8Array }> {
  const { train, val } = await ds.load(size);
  const all = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
  return { train: await train.read(all(train.count)), val: await val.read(all(val.count)) };
}

const types = (events: DatasetEvent[]) => events.map((e) => e.type).filter((t) => t !== 'decode-progress');

describe('the image cache', () => {
  it('decodes a folder once: another dataset on the same folder and size decodes nothing and reads the same bytes', async () => {
    const dir = path.join(tmp, 'images');
    await makeFolder(dir, 6);
    const first: DatasetEvent[] = [];
    const a = open({ train: dir }, first);
    const pa = await allPixels(a, 24);
    expect(types(first)).toEqual(['decode-start', 'decode-end', 'storage']);
    const second: DatasetEvent[] = [];
    const b = open({ train: dir }, second);
    const pb = await allPixels(b, 24);
    expect(types(second)).toEqual(['cache-hit', 'storage']);
    expect(second[0]).toMatchObject({ type: 'cache-hit', images: 12, inputSize: 24, bytes: 12 * 24 * 24 * 3 });
    expect(Buffer.compare(pb.train, pa.train)).toBe(0);
    expect(Buffer.compare(pb.val, pa.val)).toBe(0);
    // Another size is another cache entry; a val split with another seed reuses the folder's.
    const third: DatasetEvent[] = [];
    await open({ train: dir, seed: 9 }, third).load(24);
    expect(types(third)).toEqual(['cache-hit', 'storage']);
    await open({ train: dir }, third).load(16);
    expect(types(third).slice(2)).toEqual(['decode-start', 'decode-end', 'storage']);
    expect(listImageCache(cacheDir).map((e) => e.inputSize).sort()).toEqual([16, 24]);
    a.dispose();
    b.dispose();
  });

  it('decodes in worker threads and in this thread to the same bytes: decodeResize, Keras\' float32 resize rounded half to even', async () => {
    const dir = path.join(tmp, 'images');
    const files = await makeFolder(dir, 10);
    const inWorkers: DatasetEvent[] = [];
    const threads = await allPixels(open({ train: dir, decodeWorkers: 2, valSplit: 0.5 }, inWorkers), 20);
    expect(inWorkers.find((e) => e.type === 'decode-end')).toMatchObject({ workers: 2, images: 20 });
    const here = await allPixels(open({ train: dir, decodeWorkers: 0, valSplit: 0.5, cacheDir: path.join(tmp, 'cache2') }), 20);
    expect(Buffer.compare(threads.train, here.train)).toBe(0);
    expect(Buffer.compare(threads.val, here.val)).toBe(0);

    const { train } = await open({ train: dir, valSplit: 0.5 }).load(20);
    const rowBytes = 20 * 20 * 3;
    const pixels = await train.read(Int32Array.from({ length: train.count }, (_, i) => i));
    let halves = 0;
    for (const [i, file] of train.files!.entries()) {
      expect(files).toContain(file);
      const row = pixels.subarray(i * rowBytes, (i + 1) * rowBytes);
      expect(Buffer.compare(row, decodeResize(fs.readFileSync(file), 20, 'bilinear'))).toBe(0);
      // What Keras' image_dataset_from_directory gives: the float32 bilinear resize, half-pixel centres.
      const float = tf.tidy(() => tf.image.resizeBilinear(tf.node.decodeImage(fs.readFileSync(file), 3) as tf.Tensor3D, [20, 20], false, true)).dataSync() as Float32Array;
      for (let k = 0; k < rowBytes; k++) {
        const f = float[k] as number;
        const u = row[k] as number;
        expect(Math.abs(u - f)).toBeLessThanOrEqual(0.5);
        if (f - Math.floor(f) === 0.5) {
          halves += 1;
          expect(u % 2).toBe(0);
        }
      }
    }
    // Bilinear weights of 1/2 and 1/4 make exact halves common: the rounding rule was exercised.
    expect(halves).toBeGreaterThan(0);
  });

  it('keeps images in memory within the budget and streams them over it, with the same bytes in any order', async () => {
    const dir = path.join(tmp, 'images');
    await makeFolder(dir, 8);
    const bytes = 16 * 32 * 32 * 3;
    const memoryEvents: DatasetEvent[] = [];
    const streamEvents: DatasetEvent[] = [];
    const inMemory = await open({ train: dir, memoryBudget: bytes }, memoryEvents).load(32);
    const streamed = await open({ train: dir, memoryBudget: bytes - 1 }, streamEvents).load(32);
    expect(memoryEvents.at(-1)).toEqual({ type: 'storage', storage: 'memory', bytes, budget: bytes });
    expect(streamEvents.at(-1)).toEqual({ type: 'storage', storage: 'stream', bytes, budget: bytes - 1 });
    expect([inMemory.train.storage, streamed.train.storage, streamed.val.storage]).toEqual(['memory', 'stream', 'stream']);
    const order = Int32Array.from([11, 0, 5, 5, 3, 4, 2, 1, 7, 6, 10, 9, 8]);
    expect(Buffer.compare(await streamed.train.read(order), await inMemory.train.read(order))).toBe(0);
    expect(Array.from(streamed.train.labels)).toEqual(Array.from(inMemory.train.labels));
    const into = new Uint8Array(3 * 32 * 32 * 3);
    expect(await streamed.val.read(Int32Array.from([2, 0, 1]), into)).toBe(into);
    await expect(streamed.train.read(Int32Array.from([12]))).rejects.toThrow('image 12 is outside the split of 12');
  });

  it('notices a folder that changed and decodes only the new and changed files', async () => {
    const dir = path.join(tmp, 'images');
    const files = await makeFolder(dir, 6);
    /** The row of `file`, from whichever split holds it. */
    const rowOf = async (splits: Awaited<ReturnType<ReturnType<typeof open>['load']>>, file: string) => {
      for (const split of [splits.train, splits.val]) {
        const i = split.files!.indexOf(file);
        if (i >= 0) return split.read(Int32Array.from([i]));
      }
      throw new Error(`${file} is in no split`);
    };
    const before = open({ train: dir });
    const kept = await rowOf(await before.load(16), files[2]!);
    // One removed, one added, one rewritten with other pixels.
    fs.rmSync(files[0]!);
    fs.copyFileSync(files[3]!, path.join(dir, 'b', 'new.jpg'));
    fs.copyFileSync(files[7]!, files[4]!);
    const events: DatasetEvent[] = [];
    const after = open({ train: dir }, events);
    const splits = await after.load(16);
    const note = events.find((e) => e.type === 'note');
    expect(note && 'message' in note ? note.message : '').toMatch(/is out of date: the folder changed since it was cached \(1 added, 1 removed, 1 changed\); rebuilding it$/);
    expect(events.find((e) => e.type === 'decode-start')).toMatchObject({ images: 2 });
    const decoded = (file: string) => decodeResize(fs.readFileSync(file), 16, 'bilinear');
    expect(Buffer.compare(await rowOf(splits, files[4]!), decoded(files[7]!))).toBe(0);
    expect(Buffer.compare(await rowOf(splits, path.join(dir, 'b', 'new.jpg')), decoded(files[3]!))).toBe(0);
    expect(Buffer.compare(await rowOf(splits, files[2]!), kept)).toBe(0);
    await expect(rowOf(splits, files[0]!)).rejects.toThrow('is in no split');
    // Only the new entry is left: the old one was replaced, not kept beside it.
    expect(listImageCache(cacheDir)).toHaveLength(1);
    before.dispose();
    after.dispose();
  });

  it.each([
    ['another format version', (m: Record<string, unknown>) => ({ ...m, version: CACHE_VERSION + 1 }), /written by image cache format 2 \(another headbench version; this one writes format 1\)/],
    ['another TensorFlow decoder', (m: Record<string, unknown>) => ({ ...m, decoder: 'tensorflow 2.9.1 decode_image, ...' }), /decoded by tensorflow 2\.9\.1, this run decodes with tensorflow /],
    ['a manifest that is not JSON', () => '{"format": "headbench/image-cache", "vers', /is not valid JSON/],
  ])('ignores and rebuilds a cache with %s, saying so', async (_what, edit, reason) => {
    const dir = path.join(tmp, 'images');
    await makeFolder(dir, 3);
    const good = await allPixels(open({ train: dir, valSplit: 0.4 }), 12);
    const [entry] = listImageCache(cacheDir);
    const manifest = path.join(entry!.dir, 'manifest.json');
    const edited = edit(JSON.parse(fs.readFileSync(manifest, 'utf8')) as Record<string, unknown>);
    fs.writeFileSync(manifest, typeof edited === 'string' ? edited : JSON.stringify(edited));
    const events: DatasetEvent[] = [];
    const again = await allPixels(open({ train: dir, valSplit: 0.4 }, events), 12);
    const note = events.find((e) => e.type === 'note') as { message: string } | undefined;
    expect(note?.message).toMatch(reason);
    expect(events.find((e) => e.type === 'decode-start')).toMatchObject({ images: 6 });
    expect(Buffer.compare(again.train, good.train)).toBe(0);
    expect(JSON.parse(fs.readFileSync(manifest, 'utf8')).version).toBe(CACHE_VERSION);
  });

  it('rebuilds a cache whose rows file was truncated after it was written', async () => {
    const dir = path.join(tmp, 'images');
    await makeFolder(dir, 3);
    const good = await allPixels(open({ train: dir, valSplit: 0.4 }), 12);
    const [entry] = listImageCache(cacheDir);
    fs.truncateSync(path.join(entry!.dir, 'pixels.u8'), 100);
    const events: DatasetEvent[] = [];
    const again = await allPixels(open({ train: dir, valSplit: 0.4 }, events), 12);
    expect((events.find((e) => e.type === 'note') as { message: string }).message).toMatch(/pixels\.u8 has 100 bytes where the manifest says 2592; rebuilding it/);
    expect(Buffer.compare(again.train, good.train)).toBe(0);
  });

  it('never reads the folder a killed run was writing, and removes it on the next build', async () => {
    const dir = path.join(tmp, 'images');
    const sample = (await makeFolder(path.join(tmp, 'sample'), 1))[0]!;
    for (const c of ['a', 'b']) {
      fs.mkdirSync(path.join(dir, c), { recursive: true });
      for (let i = 0; i < 400; i++) fs.copyFileSync(sample, path.join(dir, c, `${i}.jpg`));
    }
    const script = path.join(tmp, 'writer.mjs');
    fs.writeFileSync(
      script,
      `import { imageFolderDataset } from ${JSON.stringify(path.join(packageDir, 'dist/index.js'))};\n` +
        `const ds = imageFolderDataset({ train: ${JSON.stringify(dir)}, valSplit: 0.5, seed: 1, cacheDir: ${JSON.stringify(cacheDir)}, decodeWorkers: 0,\n` +
        `  onEvent: (e) => { if (e.type === 'decode-progress') process.stdout.write('progress\\n'); } });\n` +
        'await ds.load(64);\n',
    );
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
    const killed = await new Promise<NodeJS.Signals | null>((resolve) => {
      child.stdout.once('data', () => child.kill('SIGKILL'));
      child.on('close', (_code, signal) => resolve(signal));
    });
    expect(killed).toBe('SIGKILL');
    const left = listImageCache(cacheDir);
    expect(left.map((e) => e.status)).toEqual(['incomplete']);
    expect(path.basename(left[0]!.dir)).toMatch(new RegExp(`\\.partial-${child.pid}-`));
    const events: DatasetEvent[] = [];
    const { train } = await open({ train: dir, valSplit: 0.5 }, events).load(64);
    expect(types(events)).toEqual(['decode-start', 'decode-end', 'storage']);
    expect(Buffer.compare(await train.read(Int32Array.from([399])), decodeResize(fs.readFileSync(sample), 64, 'bilinear'))).toBe(0);
    expect(listImageCache(cacheDir).map((e) => e.status)).toEqual(['ok']);
  });

  it('skips a file that does not decode and a link to nothing, on the first run and on every cached one', async () => {
    const dir = path.join(tmp, 'images');
    await makeFolder(dir, 3);
    fs.writeFileSync(path.join(dir, 'a', 'broken.jpg'), 'not a jpeg');
    fs.symlinkSync(path.join(tmp, 'gone.png'), path.join(dir, 'b', 'dangling.png'));
    const runs: string[][] = [];
    for (let run = 0; run < 2; run++) {
      const skipped: string[] = [];
      const events: DatasetEvent[] = [];
      const ds = open({ train: dir, valSplit: 0.4, onSkip: (s) => skipped.push(`${path.basename(s.file)}: ${s.reason}`) }, events);
      const { train, val } = await ds.load(12);
      expect(train.count + val.count).toBe(6);
      expect(types(events)[0]).toBe(run === 0 ? 'decode-start' : 'cache-hit');
      runs.push(skipped);
    }
    expect(runs[0]).toEqual(['broken.jpg: not an image but text, starting "not a jpeg"', 'dangling.png: it cannot be read: no such file or directory (ENOENT)']);
    expect(runs[1]).toEqual(runs[0]);
  });

  it('two runs building the same cache at once both finish, and one entry is kept', async () => {
    const dir = path.join(tmp, 'images');
    await makeFolder(dir, 4);
    const [a, b] = await Promise.all([allPixels(open({ train: dir, valSplit: 0.5 }), 20), allPixels(open({ train: dir, valSplit: 0.5 }), 20)]);
    expect(Buffer.compare(a.train, b.train)).toBe(0);
    expect(listImageCache(cacheDir).map((e) => e.status)).toEqual(['ok']);
  });

  it('lists entries with their sizes and clears them, all or one folder, never the runtime beside them', async () => {
    const [x, y] = [path.join(tmp, 'x'), path.join(tmp, 'y')];
    await makeFolder(x, 2);
    await makeFolder(y, 2);
    await open({ train: x, valSplit: 0.5 }).load(16);
    await open({ train: x, valSplit: 0.5 }).load(8);
    await open({ train: y, valSplit: 0.5 }).load(16);
    fs.mkdirSync(path.join(cacheDir, 'libtensorflow'), { recursive: true });
    fs.writeFileSync(path.join(cacheDir, 'libtensorflow', 'lib.so'), 'runtime');
    const entries = listImageCache(cacheDir);
    expect(entries.map((e) => [path.basename(e.folder!), e.inputSize, e.images, e.status]).sort()).toEqual([
      ['x', 16, 4, 'ok'],
      ['x', 8, 4, 'ok'],
      ['y', 16, 4, 'ok'],
    ]);
    for (const e of entries) expect(e.bytes).toBeGreaterThanOrEqual(e.images! * e.inputSize! * e.inputSize! * 3);
    expect(clearImageCache(cacheDir, [x]).map((e) => e.inputSize).sort()).toEqual([16, 8]);
    expect(listImageCache(cacheDir).map((e) => path.basename(e.folder!))).toEqual(['y']);
    expect(clearImageCache(cacheDir)).toHaveLength(1);
    expect(fs.readdirSync(imageCacheDir(cacheDir))).toEqual([]);
    expect(fs.readFileSync(path.join(cacheDir, 'libtensorflow', 'lib.so'), 'utf8')).toBe('runtime');
  });
});

const disk = smallDisk('images');
const { mountPoint } = disk;
afterAll(disk.remove);

describe.skipIf(!disk.canMount)('the image cache on a full disk (mounts a 4 MB tmpfs; skipped unless run as root)', () => {
  beforeEach(() => {
    expect(disk.mount()).toBe(true);
  });
  afterEach(disk.unmount);

  it('refuses before decoding when the cache cannot fit, and leaves nothing', async () => {
    const dir = path.join(tmp, 'images');
    await makeFolder(dir, 20);
    const events: DatasetEvent[] = [];
    // 40 images at 192x192 are 4.4 MB.
    const ds = open({ train: dir, cacheDir: mountPoint }, events);
    await expect(ds.load(192)).rejects.toThrow(/^the image cache needs 4\.4 MB in .*images \(40 images at 192x192\) and 4\.2 MB are free; free space there, clear old caches \(headbench cache clear\) or set HEADBENCH_CACHE_DIR to a disk with room$/);
    expect(types(events)).toEqual([]);
    expect(fs.readdirSync(imageCacheDir(mountPoint))).toEqual([]);
  });

  it('a disk that fills up while the cache is written: one clear error, nothing half-written kept, the next run builds it', async () => {
    const dir = path.join(tmp, 'images');
    await makeFolder(dir, 20);
    const filler = path.join(mountPoint, 'filler');
    const events: DatasetEvent[] = [];
    // Someone else fills the disk as decoding starts (40 images at 128x128 are 2 MB).
    const onEvent = (e: DatasetEvent) => {
      events.push(e);
      if (e.type === 'decode-start') {
        const s = fs.statfsSync(mountPoint);
        fs.writeFileSync(filler, Buffer.alloc(s.bavail * s.bsize - 256 * 1024));
      }
    };
    const ds = open({ train: dir, cacheDir: mountPoint, onEvent });
    await expect(ds.load(128)).rejects.toThrow(/^the image cache in .*images ran out of disk space \(it needs 2\.0 MB\); nothing half-written was kept\. Free space there/);
    expect(types(events)).toEqual(['decode-start']);
    expect(fs.readdirSync(imageCacheDir(mountPoint))).toEqual([]);
    fs.rmSync(filler);
    const again: DatasetEvent[] = [];
    const { train } = await open({ train: dir, cacheDir: mountPoint }, again).load(128);
    expect(types(again)).toEqual(['decode-start', 'decode-end', 'storage']);
    expect(train.count).toBe(30);
    expect(listImageCache(mountPoint).map((e) => e.status)).toEqual(['ok']);
  });

  it('a cache folder that cannot be written: one clear error', async () => {
    const dir = path.join(tmp, 'images');
    await makeFolder(dir, 2);
    expect(spawnSync('mount', ['-o', 'remount,ro', mountPoint]).status).toBe(0);
    await expect(open({ train: dir, cacheDir: mountPoint, valSplit: 0.5 }).load(16)).rejects.toThrow(
      `cannot write the image cache in ${path.join(mountPoint, 'images')} (EROFS); set HEADBENCH_CACHE_DIR to a writable folder`,
    );
  });
});
