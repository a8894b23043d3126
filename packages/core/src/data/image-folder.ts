import fs from 'node:fs';
import path from 'node:path';
import { tf } from '@headbench/engine';
import { UsageError } from '../errors.js';
import { explainFileErrors, systemErrorCode } from '../files.js';
import { checkImageBytes, decodeErrorReason } from './image-check.js';
import { deriveSeed, seededRandom, shuffledIndices } from '../random.js';
import { fingerprintOf } from '../stats/correctness.js';
import type { ImageDataset, LabeledImages, SkippedFile } from './dataset.js';

/** The extensions Keras' `image_dataset_from_directory` reads. */
const IMAGE_EXTENSIONS = new Set(['.bmp', '.gif', '.jpeg', '.jpg', '.png']);

interface LabeledFile {
  file: string;
  label: number;
  /** The file's path below the folder it was listed from, as the fingerprint names it (the same on every machine). */
  name: string;
}

interface Listing {
  classes: string[];
  files: LabeledFile[];
}

function walkImages(dir: string): string[] {
  const out: string[] = [];
  for (const entry of explainFileErrors('read folder', dir, () => fs.readdirSync(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walkImages(full));
    else if (IMAGE_EXTENSIONS.has(path.extname(entry.name).toLowerCase())) out.push(full);
  }
  return out;
}

/** Lists `<dir>/<class>/<image>` as Keras does: classes are the sorted sub-folders, top-level files are ignored. */
export function listImageFolder(dir: string, role: string): Listing {
  if (!fs.existsSync(dir)) throw new UsageError(`${role} folder ${dir} does not exist`);
  if (!fs.statSync(dir).isDirectory()) throw new UsageError(`${role} folder ${dir} is a file; expected a folder laid out as <folder>/<class>/<image>`);
  const classes = explainFileErrors('read folder', dir, () => fs.readdirSync(dir, { withFileTypes: true }))
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  if (classes.length < 2) {
    throw new UsageError(
      `${role} folder ${dir} has ${classes.length} class folder${classes.length === 1 ? '' : 's'}${classes.length ? ` (${classes.join(', ')})` : ''}; ` +
        'a classification dataset needs at least two, laid out as <folder>/<class>/<image>',
    );
  }
  const files: LabeledFile[] = [];
  classes.forEach((name, label) => {
    const images = walkImages(path.join(dir, name));
    if (images.length === 0) throw new UsageError(`class "${name}" in ${role} folder ${dir} has no images (${[...IMAGE_EXTENSIONS].join(', ')})`);
    for (const file of images) files.push({ file, label, name: path.relative(dir, file).split(path.sep).join('/') });
  });
  return { classes, files };
}

function sameClasses(train: string[], val: string[], trainDir: string, valDir: string, role = 'val'): void {
  const missing = train.filter((c) => !val.includes(c));
  const extra = val.filter((c) => !train.includes(c));
  if (missing.length || extra.length) {
    const parts = [missing.length ? `missing in ${role}: ${missing.join(', ')}` : '', extra.length ? `only in ${role}: ${extra.join(', ')}` : ''].filter(Boolean);
    throw new UsageError(`the classes of ${valDir} differ from those of ${trainDir} (${parts.join('; ')}); both folders need the same class sub-folders`);
  }
}

export interface ImageFolderOptions {
  train: string;
  /** A separate validation folder, or: */
  val?: string;
  /** the fraction of `train` held out for validation, chosen with `seed` as Keras does. */
  valSplit?: number;
  /** A test folder evaluated once after training, or: */
  test?: string;
  /** the fraction of `train` held out as a test split (cut after the val split, from the same shuffle). */
  testSplit?: number;
  seed: number;
  /** Called for each file that does not decode (it is skipped). */
  onSkip?: (skipped: SkippedFile) => void;
}

/**
 * Image folders as Keras reads them. Decoding (tfjs-node, natively: JPEG, PNG, BMP, GIF; to RGB)
 * and bilinear resizing with half-pixel centres (TensorFlow 2's `tf.image.resize`) happen once
 * per input size; the file bytes are read once.
 */
export function imageFolderDataset(options: ImageFolderOptions): ImageDataset {
  const train = listImageFolder(options.train, 'train');
  let trainFiles = train.files;
  let valFiles: LabeledFile[];
  let name: string;
  if (options.val !== undefined) {
    if (options.valSplit !== undefined) throw new UsageError('give either a val folder or a val split, not both');
    const val = listImageFolder(options.val, 'val');
    sameClasses(train.classes, val.classes, options.train, options.val);
    valFiles = val.files;
    name = `${options.train} + ${options.val}`;
  } else {
    const split = options.valSplit;
    if (split === undefined || !(split > 0 && split < 1)) throw new UsageError('give a val folder (--val) or a val split between 0 and 1 (--val-split 0.2)');
    // Keras: shuffle all files with the seed, the last fraction is validation.
    const order = shuffledIndices(trainFiles.length, seededRandom(options.seed));
    const shuffled = Array.from(order, (i) => trainFiles[i] as LabeledFile);
    const valCount = Math.floor(split * shuffled.length);
    if (valCount < 1) throw new UsageError(`--val-split ${split} of ${shuffled.length} images leaves no validation images`);
    valFiles = shuffled.slice(shuffled.length - valCount);
    trainFiles = shuffled.slice(0, shuffled.length - valCount);
    name = `${options.train} (val split ${split}, seed ${options.seed})`;
  }

  let testFiles: LabeledFile[] = [];
  if (options.test !== undefined) {
    if (options.testSplit !== undefined) throw new UsageError('give either a test folder (--test) or a test split (--test-split), not both');
    const test = listImageFolder(options.test, 'test');
    sameClasses(train.classes, test.classes, options.train, options.test, 'test');
    testFiles = test.files;
    name += ` + test ${options.test}`;
  } else if (options.testSplit !== undefined) {
    const split = options.testSplit;
    if (!(split > 0 && split < 1)) throw new UsageError(`--test-split ${split}: give a fraction between 0 and 1, e.g. --test-split 0.2`);
    // With --val-split the training files are already shuffled; shuffle them once more with a
    // seed of its own, so the test images do not depend on whether val was a split or a folder.
    const order = shuffledIndices(trainFiles.length, seededRandom(deriveSeed(options.seed, 'test split')));
    const shuffled = Array.from(order, (i) => trainFiles[i] as LabeledFile);
    const testCount = Math.floor(split * shuffled.length);
    if (testCount < 1) throw new UsageError(`--test-split ${split} of ${shuffled.length} training images leaves no test images`);
    if (shuffled.length - testCount < 1) throw new UsageError(`--test-split ${split} leaves no training images`);
    testFiles = shuffled.slice(shuffled.length - testCount);
    trainFiles = shuffled.slice(0, shuffled.length - testCount);
    name += ` (test split ${split}, seed ${options.seed})`;
  }

  const bytes = new Map<string, Buffer>();
  const read = (file: string) => {
    let b = bytes.get(file);
    if (!b) {
      b = fs.readFileSync(file);
      bytes.set(file, b);
    }
    return b;
  };
  const skipped: SkippedFile[] = [];
  const skippedSet = new Set<string>();
  const cache = new Map<number, { train: LabeledImages; val: LabeledImages; test?: LabeledImages }>();

  const skip = (file: string, reason: string) => {
    if (skippedSet.has(file)) return;
    const entry = { file, reason };
    skippedSet.add(file);
    skipped.push(entry);
    options.onSkip?.(entry);
  };

  const decodeAll = (files: LabeledFile[], inputSize: number, role: string): LabeledImages => {
    const images: tf.Tensor3D[] = [];
    const labels: number[] = [];
    const names: string[] = [];
    for (const { file, label, name: fileName } of files) {
      if (skippedSet.has(file)) continue;
      let data: Buffer;
      try {
        data = read(file);
      } catch (error) {
        skip(file, `it cannot be read (${systemErrorCode(error) ?? 'error'}: ${error instanceof Error ? error.message : String(error)})`);
        continue;
      }
      // What TensorFlow would refuse is refused here, before its decoder prints to stderr.
      const problem = checkImageBytes(data);
      if (problem) {
        skip(file, problem);
        continue;
      }
      try {
        images.push(
          tf.tidy(() => {
            const decoded = tf.node.decodeImage(data, 3, 'int32', false) as tf.Tensor3D;
            return tf.image.resizeBilinear(decoded, [inputSize, inputSize], false, true);
          }),
        );
        labels.push(label);
        names.push(`${fileName} ${train.classes[label]}`);
      } catch (error) {
        skip(file, decodeErrorReason(error));
      }
    }
    const present = new Set(labels);
    const empty = train.classes.filter((_, i) => !present.has(i));
    if (empty.length) {
      tf.dispose(images);
      throw new UsageError(`after skipping files that do not decode, the ${role} images have no images of class ${empty.join(', ')}`);
    }
    const stacked = tf.stack(images) as tf.Tensor4D;
    tf.dispose(images);
    return { images: stacked, labels: Int32Array.from(labels), fingerprint: fingerprintOf(names) };
  };

  return {
    name,
    classes: train.classes,
    trainCount: trainFiles.length,
    valCount: valFiles.length,
    testCount: testFiles.length,
    skipped,
    async load(inputSize) {
      let entry = cache.get(inputSize);
      if (!entry) {
        entry = {
          train: decodeAll(trainFiles, inputSize, 'train'),
          val: decodeAll(valFiles, inputSize, 'val'),
          ...(testFiles.length ? { test: decodeAll(testFiles, inputSize, 'test') } : {}),
        };
        cache.set(inputSize, entry);
      }
      return entry;
    },
    dispose() {
      for (const { train: t, val, test } of cache.values()) tf.dispose([t.images, val.images, ...(test ? [test.images] : [])]);
      cache.clear();
      bytes.clear();
    },
  };
}
