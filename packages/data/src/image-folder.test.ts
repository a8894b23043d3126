import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tf } from '@headbench/engine';
import { imageFolderDataset, listImageFolder } from './image-folder.js';

let root: string;
let cacheDir: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-images-'));
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-cache-'));
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(cacheDir, { recursive: true, force: true });
});

async function writeImage(file: string, rgb: [number, number, number], channels: 1 | 3 | 4 = 3, format: 'png' | 'jpg' = 'png') {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const values = tf.tidy(() => {
    const color = channels === 1 ? [rgb[0]] : channels === 4 ? [...rgb, 128] : rgb;
    return tf.tensor1d(color, 'int32').reshape([1, 1, channels]).tile([20, 30, 1]) as tf.Tensor3D;
  });
  const bytes = format === 'png' ? await tf.node.encodePng(values) : await tf.node.encodeJpeg(values, channels === 1 ? 'grayscale' : 'rgb', 100);
  values.dispose();
  fs.writeFileSync(file, bytes);
}

describe('listImageFolder', () => {
  it('reads classes as sorted sub-folders and ignores top-level files and other extensions', async () => {
    await writeImage(path.join(root, 'tulips/a.png'), [255, 0, 0]);
    await writeImage(path.join(root, 'daisy/b.jpg'), [0, 255, 0], 3, 'jpg');
    fs.writeFileSync(path.join(root, 'README.md'), '# not an image');
    fs.writeFileSync(path.join(root, 'daisy/notes.txt'), 'ignored');
    const listing = listImageFolder(root, 'train');
    expect(listing.classes).toEqual(['daisy', 'tulips']);
    expect(listing.files.map((f) => [path.basename(f.file), f.label])).toEqual([['b.jpg', 0], ['a.png', 1]]);
  });

  it('names the problem with the folder', async () => {
    expect(() => listImageFolder(path.join(root, 'missing'), 'train')).toThrow(`train folder ${path.join(root, 'missing')} does not exist`);
    await writeImage(path.join(root, 'only/a.png'), [1, 2, 3]);
    expect(() => listImageFolder(root, 'train')).toThrow('has 1 class folder (only); a classification dataset needs at least two');
    fs.mkdirSync(path.join(root, 'empty'));
    expect(() => listImageFolder(root, 'train')).toThrow(`class "empty" in train folder ${root} has no images`);
  });
});

describe('imageFolderDataset', () => {
  it('decodes grayscale and RGBA to RGB, resizes, labels, and skips (and counts) files that do not decode', async () => {
    await writeImage(path.join(root, 'train/a/gray.png'), [90, 0, 0], 1);
    await writeImage(path.join(root, 'train/a/rgba.png'), [10, 20, 30], 4);
    await writeImage(path.join(root, 'train/b/rgb.jpg'), [200, 100, 50], 3, 'jpg');
    fs.writeFileSync(path.join(root, 'train/b/broken.jpg'), 'this is not a jpeg');
    await writeImage(path.join(root, 'val/a/x.png'), [90, 90, 90]);
    await writeImage(path.join(root, 'val/b/y.png'), [200, 100, 50]);
    const skipped: string[] = [];
    const ds = imageFolderDataset({ train: path.join(root, 'train'), val: path.join(root, 'val'), seed: 1, cacheDir, onSkip: (s) => skipped.push(path.basename(s.file)) });
    const { train, val } = await ds.load(8);
    expect([train.count, train.inputSize, val.count]).toEqual([3, 8, 2]);
    expect(Array.from(train.labels)).toEqual([0, 0, 1]);
    expect(train.files!.map((f) => path.basename(f))).toEqual(['gray.png', 'rgba.png', 'rgb.jpg']);
    const pixels = await train.read(Int32Array.from([0, 1]));
    const at = (image: number, y: number, x: number) => Array.from(pixels.subarray(((image * 8 + y) * 8 + x) * 3, ((image * 8 + y) * 8 + x) * 3 + 3));
    expect(at(0, 4, 4)).toEqual([90, 90, 90]);
    expect(at(1, 4, 4)).toEqual([10, 20, 30]);
    expect(skipped).toEqual(['broken.jpg']);
    expect(ds.skipped).toHaveLength(1);
    // The same size is served from what was loaded; a second size decodes again, reporting the skip once.
    expect(await ds.load(8)).toBe(await ds.load(8));
    await ds.load(6);
    expect(skipped).toEqual(['broken.jpg']);
    ds.dispose();
  });

  it('rejects val classes that differ from train classes', async () => {
    for (const c of ['a', 'b', 'c']) await writeImage(path.join(root, `train/${c}/1.png`), [1, 1, 1]);
    for (const c of ['a', 'b', 'd']) await writeImage(path.join(root, `val/${c}/1.png`), [1, 1, 1]);
    expect(() => imageFolderDataset({ train: path.join(root, 'train'), val: path.join(root, 'val'), seed: 1 })).toThrow(
      /differ from those of .* \(missing in val: c; only in val: d\)/,
    );
  });

  it('splits one folder with a seed, the same way every time', async () => {
    for (let i = 0; i < 10; i++) await writeImage(path.join(root, `${i % 2 ? 'a' : 'b'}/${i}.png`), [i * 20, 0, 0]);
    const split = (seed: number) => {
      const ds = imageFolderDataset({ train: root, valSplit: 0.3, seed, cacheDir });
      return [ds.trainCount, ds.valCount, ds.name];
    };
    expect(split(5)).toEqual([7, 3, `${root} (val split 0.3, seed 5)`]);
    expect(() => imageFolderDataset({ train: root, seed: 1 })).toThrow('give a val folder (--val) or a val split between 0 and 1');
  });

  it('fails when skipping leaves a class without images', async () => {
    await writeImage(path.join(root, 'a/ok.png'), [1, 1, 1]);
    fs.mkdirSync(path.join(root, 'b'));
    fs.writeFileSync(path.join(root, 'b/bad.png'), 'garbage');
    await writeImage(path.join(root, 'a/ok2.png'), [1, 1, 1]);
    const ds = imageFolderDataset({ train: root, valSplit: 0.5, seed: 3, cacheDir });
    await expect(ds.load(4)).rejects.toThrow(/have no images of class b/);
  });
});
