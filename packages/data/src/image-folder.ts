import fs from 'node:fs';
import path from 'node:path';
import { explainFileErrors, UsageError } from '@headbench/errors';
import { deriveSeed, fingerprintOf, seededRandom, shuffledIndices } from '@headbench/stats';
import type { DatasetEvent, ImageDataset, ImageSplit, SkippedFile, SplitSource } from './dataset.js';
import { INTERPOLATIONS, type Interpolation } from './decode.js';
import { cachedFolder, type CachedFolder, type FileStamp } from './image-cache.js';
import { FileRows, MemoryRows, storeSplit, type RowStore } from './rows.js';

/** The extensions Keras' `image_dataset_from_directory` reads. */
const IMAGE_EXTENSIONS = new Set(['.bmp', '.gif', '.jpeg', '.jpg', '.png']);

interface LabeledFile extends FileStamp {
  file: string;
  label: number;
  /** Its position in the folder's listing: its row in the folder's decode cache. */
  row: number;
  /** Which of the dataset's folders (train, val, test) it was listed from. */
  folder?: number;
}

interface Listing {
  /** The folder's real path (what the cache is keyed by). */
  root: string;
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
  const root = fs.realpathSync(dir);
  const files: LabeledFile[] = [];
  classes.forEach((name, label) => {
    const images = walkImages(path.join(dir, name));
    if (images.length === 0) throw new UsageError(`class "${name}" in ${role} folder ${dir} has no images (${[...IMAGE_EXTENSIONS].join(', ')})`);
    for (const file of images) {
      // A file that cannot be stat'ed (a broken link) is listed and then skipped when it does not read.
      const stat = fs.statSync(file, { throwIfNoEntry: false });
      const rel = path.relative(dir, file).split(path.sep).join('/');
      files.push({ file, label, row: files.length, rel, size: stat?.size ?? -1, mtimeMs: stat?.mtimeMs ?? 0, mode: stat?.mode ?? 0 });
    }
  });
  return { root, classes, files };
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
  /** Called for each file that does not decode (it is skipped), once. */
  onSkip?: (skipped: SkippedFile) => void;
  /** Decoded images (uint8) up to this many bytes are kept in memory; larger datasets are streamed from the cache. */
  memoryBudget?: number;
  /** How images are resized (default bilinear, as Keras). */
  interpolation?: Interpolation;
  /** The headbench cache folder (default: HEADBENCH_CACHE_DIR, XDG_CACHE_HOME/headbench or ~/.cache/headbench). */
  cacheDir?: string;
  /** Decode threads (default: none below 1,000 images, else one per core). */
  decodeWorkers?: number;
  /** Decoding progress, cache use and the storage chosen. */
  onEvent?: (event: DatasetEvent) => void;
}

/** Default of `memoryBudget`: 2 GB of decoded images (30,000 images at 160x160 are 2.3 GB). */
export const DEFAULT_MEMORY_BUDGET = 2e9;

/**
 * Image folders as Keras reads them. Each folder is decoded (TensorFlow, natively: JPEG, PNG,
 * BMP, GIF; to RGB) and resized (`decodeResize`) once per input size into the decode cache on
 * disk, which later runs and other input sizes' runs of the same size reuse. The images are then
 * kept in memory when they fit `memoryBudget`, else read from the cache batch by batch; both
 * give the same bytes. File bytes are not kept.
 */
export function imageFolderDataset(options: ImageFolderOptions): ImageDataset {
  const train = listImageFolder(options.train, 'train');
  let trainFiles = train.files;
  let valFiles: LabeledFile[];
  let valListing: Listing | undefined;
  let name: string;
  if (options.val !== undefined) {
    if (options.valSplit !== undefined) throw new UsageError('give either a val folder or a val split, not both');
    const val = listImageFolder(options.val, 'val');
    sameClasses(train.classes, val.classes, options.train, options.val);
    valListing = val;
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
  let testListing: Listing | undefined;
  if (options.test !== undefined) {
    if (options.testSplit !== undefined) throw new UsageError('give either a test folder (--test) or a test split (--test-split), not both');
    const test = listImageFolder(options.test, 'test');
    sameClasses(train.classes, test.classes, options.train, options.test, 'test');
    testListing = test;
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

  const interpolation = options.interpolation ?? 'bilinear';
  if (!INTERPOLATIONS.includes(interpolation)) throw new UsageError(`interpolation "${interpolation}" is not one of ${INTERPOLATIONS.join(', ')}`);
  const budget = options.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
  if (!(budget >= 0)) throw new UsageError(`memory budget must be a size >= 0, got ${budget}`);
  // The folders whose caches the splits read: train's, and val's and test's when they are folders of their own.
  const folders = [train, ...(valListing ? [valListing] : []), ...(testListing ? [testListing] : [])];
  folders.forEach((listing, k) => listing.files.forEach((f) => (f.folder = k)));
  const skipped: SkippedFile[] = [];
  const skippedSet = new Set<string>();
  const loaded = new Map<number, Promise<{ splits: { train: ImageSplit; val: ImageSplit; test?: ImageSplit }; stores: RowStore[] }>>();
  const opened: RowStore[] = [];

  /** A split's files all come from one folder: its cache and store. */
  const splitOf = (files: LabeledFile[], caches: CachedFolder[], stores: RowStore[], inputSize: number, role: string): ImageSplit => {
    const folder = files[0]?.folder ?? 0;
    const cache = caches[folder] as CachedFolder;
    const kept = files.filter((f) => !cache.skipped.has(f.row));
    const present = new Set(kept.map((f) => f.label));
    const empty = train.classes.filter((_, i) => !present.has(i));
    if (empty.length) throw new UsageError(`after skipping files that do not decode, the ${role} images have no images of class ${empty.join(', ')}`);
    const rows = Int32Array.from(kept, (f) => f.row);
    const split = storeSplit(stores[folder] as RowStore, rows, Int32Array.from(kept, (f) => f.label), inputSize, {
      files: kept.map((f) => f.file),
      fingerprint: fingerprintOf(kept.map((f) => `${f.rel} ${train.classes[f.label]}`)),
    });
    const source: SplitSource = { cache: cache.dir, folder: cache.manifest.folder, createdAt: cache.manifest.createdAt, pixelsFile: cache.pixelsFile, images: cache.manifest.images, rows };
    return { ...split, source, read: split.read };
  };

  const load = async (inputSize: number) => {
    const caches: CachedFolder[] = [];
    for (const listing of folders) {
      const cache = await cachedFolder({
        folder: listing.root,
        files: listing.files,
        inputSize,
        interpolation,
        ...(options.cacheDir !== undefined ? { root: options.cacheDir } : {}),
        ...(options.decodeWorkers !== undefined ? { workers: options.decodeWorkers } : {}),
        ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      });
      caches.push(cache);
      for (const [row, reason] of [...cache.skipped].sort((a, b) => a[0] - b[0])) {
        const file = (listing.files[row] as LabeledFile).file;
        if (skippedSet.has(file)) continue;
        const entry = { file, reason };
        skippedSet.add(file);
        skipped.push(entry);
        options.onSkip?.(entry);
      }
    }
    const bytes = caches.reduce((sum, c) => sum + c.bytes, 0);
    const storage = bytes <= budget ? 'memory' : 'stream';
    const rowBytes = inputSize * inputSize * 3;
    const stores: RowStore[] = caches.map((c) =>
      storage === 'memory' ? MemoryRows.fromFile(c.pixelsFile, rowBytes, c.manifest.images) : new FileRows(c.pixelsFile, rowBytes, c.manifest.images),
    );
    try {
      const splits = {
        train: splitOf(trainFiles, caches, stores, inputSize, 'train'),
        val: splitOf(valFiles, caches, stores, inputSize, 'val'),
        ...(testFiles.length ? { test: splitOf(testFiles, caches, stores, inputSize, 'test') } : {}),
      };
      options.onEvent?.({ type: 'storage', storage, bytes, budget });
      opened.push(...stores);
      return { splits, stores };
    } catch (error) {
      for (const store of stores) store.close();
      throw error;
    }
  };

  return {
    name,
    classes: train.classes,
    trainCount: trainFiles.length,
    valCount: valFiles.length,
    testCount: testFiles.length,
    skipped,
    async load(inputSize) {
      let entry = loaded.get(inputSize);
      if (!entry) {
        entry = load(inputSize);
        loaded.set(inputSize, entry);
        // A failed load (a full disk, an empty class) is tried again by the next call.
        entry.catch(() => loaded.delete(inputSize));
      }
      return (await entry).splits;
    },
    dispose() {
      for (const store of opened.splice(0)) store.close();
      loaded.clear();
    },
  };
}
