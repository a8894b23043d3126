import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  cachedFeatures,
  DEFAULT_MEMORY_BUDGET,
  featureSplit,
  FileRows,
  MemoryRows,
  openFeatures,
  type FeatureKey,
  type FeatureSplit,
  type ImageSplit,
  type RowStore,
  type Storage,
} from '@headbench/data';
import { compileInference, runtimeInfo, tf } from '@headbench/engine';
import type { TrainingPath } from '@headbench/results';
import type { BackbonePlugin, FeatureShape, HeadPlugin } from './plugin.js';

/**
 * Frozen backbones compute their features once. A stage that trains with the backbone frozen and
 * the images unaugmented sees the same feature map of an image at every step (a frozen
 * BatchNorm runs on its moving statistics), so the head can train on features computed once by
 * the backbone's inference graph and kept in the feature cache (`@headbench/data`). This module
 * computes them, opens them for a run, and builds the head alone on a feature-shaped input,
 * its weights copied from and back to the head's layers in the whole model.
 */

export type FeatureEvent =
  | { type: 'features-start'; folder: string; images: number; backbone: string; inputSize: number; cache: string }
  | { type: 'features-progress'; folder: string; done: number; images: number }
  | { type: 'features-end'; folder: string; images: number; seconds: number; bytes: number; cache: string; rebuilt?: string }
  | { type: 'features-hit'; folder: string; images: number; bytes: number; cache: string };

export interface FeatureCacheOptions {
  /** The headbench cache folder (default: HEADBENCH_CACHE_DIR, XDG_CACHE_HOME/headbench or ~/.cache/headbench). */
  root?: string;
  /** Features up to this many bytes (over the run) are read into memory, the rest streamed from the cache (default 2 GB, as images). */
  memoryBudget?: number;
  /** Images per batch of the backbone's forward pass (default 32). */
  batchSize?: number;
  onEvent?: (event: FeatureEvent) => void;
}

/** Layers whose output is random in training whatever their `trainable`: features through them change at every step. */
const RANDOM_IN_TRAINING = new Set(['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);

/**
 * Why the backbone's features are not fixed while it is frozen, or undefined when they are:
 * a layer with trainable weights (the stage trains it), or one random in training.
 */
export function backboneChanges(layers: readonly tf.layers.Layer[]): string | undefined {
  const trains = layers.filter((l) => l.trainableWeights.length > 0);
  if (trains.length) return `the backbone trains in this stage (${trains.length} of its layers have trainable weights)`;
  const random = layers.find((l) => RANDOM_IN_TRAINING.has(l.getClassName()) && Number((l.getConfig() as { rate?: number }).rate ?? 1) > 0);
  if (random) return `the backbone's ${random.getClassName()} layer ${random.name} is random in training, so its features change at every step`;
  return undefined;
}

/** sha256 of a model's weights (names, shapes and values, in order). */
export function weightsHash(model: tf.LayersModel): string {
  const hash = createHash('sha256');
  for (const w of model.weights) {
    hash.update(`${w.originalName} ${w.shape.join('x')}\n`);
    const values = w.read().dataSync() as Float32Array;
    hash.update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }
  return hash.digest('hex');
}

export interface SplitFeatures {
  train: FeatureSplit;
  val: FeatureSplit;
  test?: FeatureSplit;
  /** Whether features were read into memory or are streamed from the cache. */
  storage: Storage;
  /** Whether this call computed any of them, and the seconds it took. */
  built: boolean;
  seconds: number;
}

interface Opened {
  store: RowStore;
  bytes: number;
}

/**
 * The features of a run: computed or found in the cache per image cache entry, opened once and
 * shared by every combination of the same backbone weights. `dispose` at the end of the run.
 */
export class FeatureCache {
  private readonly opened = new Map<string, Promise<Opened & { built: boolean; seconds: number }>>();
  private inMemory = 0;

  constructor(private readonly options: FeatureCacheOptions = {}) {}

  /** The features of `splits` through `backbone` (the built backbone model, frozen) at `inputSize`. */
  async splits(args: {
    plugin: BackbonePlugin;
    backboneName: string;
    model: tf.LayersModel;
    featureShape: FeatureShape;
    inputSize: number;
    splits: { train: ImageSplit; val: ImageSplit; test?: ImageSplit };
  }): Promise<SplitFeatures> {
    const weights = weightsHash(args.model);
    const shape = [...args.featureShape] as [number, number, number];
    let built = false;
    let seconds = 0;
    let storage: Storage = 'memory';
    const one = async (split: ImageSplit): Promise<FeatureSplit> => {
      const source = split.source;
      // A split without an image cache entry (the synthetic dataset): its own rows, in memory, for this run.
      const id = source ? `${weights} ${source.cache} ${source.createdAt}` : `${weights} memory ${split.fingerprint ?? ''} ${split.count}`;
      let entry = this.opened.get(id);
      if (!entry) {
        entry = source
          ? this.fromCache(args, weights, shape, source)
          : this.inMemoryOf(args, shape, split);
        this.opened.set(id, entry);
        entry.catch(() => this.opened.delete(id));
      }
      const opened = await entry;
      if (opened.built) {
        built = true;
        seconds += opened.seconds;
        opened.built = false;
      }
      if (opened.store.storage === 'stream') storage = 'stream';
      return featureSplit(opened.store, source ? source.rows : Int32Array.from({ length: split.count }, (_, i) => i), split.labels, shape, split.fingerprint);
    };
    const train = await one(args.splits.train);
    const val = await one(args.splits.val);
    const test = args.splits.test ? await one(args.splits.test) : undefined;
    return { train, val, ...(test ? { test } : {}), storage, built, seconds };
  }

  private async fromCache(
    args: { backboneName: string; model: tf.LayersModel; plugin: BackbonePlugin; inputSize: number },
    weights: string,
    shape: [number, number, number],
    source: NonNullable<ImageSplit['source']>,
  ): Promise<Opened & { built: boolean; seconds: number }> {
    const started = performance.now();
    const key: FeatureKey = {
      backbone: args.backboneName,
      weights,
      inputSize: args.inputSize,
      images: source.cache,
      imagesCreatedAt: source.createdAt,
      runtime: `TensorFlow ${runtimeInfo().libtensorflow}`,
    };
    let cache = '';
    const entry = await cachedFeatures(
      { key, folder: source.folder, shape, rows: source.images, ...(this.options.root !== undefined ? { root: this.options.root } : {}) },
      async (write) => {
        const rowBytes = args.inputSize * args.inputSize * 3;
        const pixels = new FileRows(source.pixelsFile, rowBytes, source.images);
        try {
          this.options.onEvent?.({ type: 'features-start', folder: source.folder, images: source.images, backbone: args.backboneName, inputSize: args.inputSize, cache: source.cache });
          await forward(args.model, args.plugin, args.inputSize, pixels, source.images, this.options.batchSize ?? 32, write, (done) =>
            this.options.onEvent?.({ type: 'features-progress', folder: source.folder, done, images: source.images }),
          );
        } finally {
          pixels.close();
        }
      },
    );
    cache = entry.dir;
    const storage = this.place(entry.bytes);
    const seconds = (performance.now() - started) / 1000;
    if (entry.built) this.options.onEvent?.({ type: 'features-end', folder: source.folder, images: source.images, seconds, bytes: entry.bytes, cache, ...(entry.rebuilt ? { rebuilt: entry.rebuilt } : {}) });
    else this.options.onEvent?.({ type: 'features-hit', folder: source.folder, images: source.images, bytes: entry.bytes, cache });
    return { store: openFeatures(entry, storage), bytes: entry.bytes, built: entry.built, seconds };
  }

  private async inMemoryOf(args: { model: tf.LayersModel; plugin: BackbonePlugin; inputSize: number }, shape: [number, number, number], split: ImageSplit): Promise<Opened & { built: boolean; seconds: number }> {
    const started = performance.now();
    const rowBytes = shape[0] * shape[1] * shape[2] * 4;
    const store = new MemoryRows(rowBytes, split.count);
    const pixels: RowStore = {
      storage: split.storage,
      rowBytes: args.inputSize * args.inputSize * 3,
      rows: split.count,
      read: async (rows, into) => void (await split.read(Int32Array.from(rows), into)),
      close: () => {},
    };
    await forward(args.model, args.plugin, args.inputSize, pixels, split.count, this.options.batchSize ?? 32, (first, values) => {
      const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
      for (let k = 0; k * rowBytes < bytes.length; k++) store.row(first + k).set(bytes.subarray(k * rowBytes, (k + 1) * rowBytes));
    });
    this.inMemory += split.count * rowBytes;
    return { store, bytes: split.count * rowBytes, built: true, seconds: (performance.now() - started) / 1000 };
  }

  private place(bytes: number): Storage {
    const budget = this.options.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
    if (this.inMemory + bytes <= budget) {
      this.inMemory += bytes;
      return 'memory';
    }
    return 'stream';
  }

  /** Closes every opened store (files, memory). */
  dispose(): void {
    for (const entry of this.opened.values()) entry.then((o) => o.store.close(), () => undefined);
    this.opened.clear();
    this.inMemory = 0;
  }
}

/** Runs every row of `pixels` through the backbone's inference graph, batch by batch, writing the features. */
async function forward(
  model: tf.LayersModel,
  plugin: BackbonePlugin,
  inputSize: number,
  pixels: RowStore,
  rows: number,
  batchSize: number,
  write: (first: number, values: Float32Array) => void,
  onProgress?: (done: number) => void,
): Promise<void> {
  const inference = await compileInference(model);
  try {
    const buffer = new Uint8Array(batchSize * pixels.rowBytes);
    for (let first = 0; first < rows; first += batchSize) {
      const n = Math.min(batchSize, rows - first);
      await pixels.read(Int32Array.from({ length: n }, (_, k) => first + k), buffer);
      const features = tf.tidy(() => {
        const images = tf.tensor4d(new Float32Array(buffer.subarray(0, n * pixels.rowBytes)), [n, inputSize, inputSize, 3]);
        return inference.predict(plugin.preprocess(images));
      });
      const values = (await features.data()) as Float32Array;
      features.dispose();
      write(first, values);
      onProgress?.(first + n);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  } finally {
    inference.dispose();
  }
}

/** The head alone on a feature-shaped input, sharing values with the head's layers of the whole model by copying. */
export interface HeadOnly {
  model: tf.LayersModel;
  /** Copies the whole model's head weights into this one (before a stage on features). */
  pull(): void;
  /** Copies this one's weights back into the whole model's head (after it). */
  push(): void;
  dispose(): void;
}

/**
 * Builds `head` on an input of the feature shape and pairs its layers with the head's layers of
 * `model` (every layer that is not the backbone's), in order. Throws when they do not pair: a
 * head whose build differs between calls cannot train on features.
 */
export function headOnly(model: tf.LayersModel, backboneLayers: readonly tf.layers.Layer[], head: HeadPlugin, context: { classes: number; featureShape: FeatureShape; seed: number }): HeadOnly {
  const input = tf.input({ shape: [...context.featureShape] });
  const logits = head.build(input, context);
  const alone = tf.model({ inputs: input, outputs: logits, name: `${model.name}_head` });
  const backbone = new Set(backboneLayers);
  const whole = model.layers.filter((l) => !backbone.has(l) && l.getClassName() !== 'InputLayer');
  const mine = alone.layers.filter((l) => l.getClassName() !== 'InputLayer');
  const pairs = whole.map((l, i) => [l, mine[i]] as const);
  const same = whole.length === mine.length && pairs.every(([a, b]) => !!b && a.getClassName() === b.getClassName() && a.weights.length === b.weights.length && a.weights.every((w, k) => w.shape.join('x') === b.weights[k]!.shape.join('x')));
  if (!same) {
    alone.dispose();
    throw new Error(`head ${head.meta.name} built on features has layers ${mine.map((l) => l.getClassName()).join(', ')}, in the whole model ${whole.map((l) => l.getClassName()).join(', ')}`);
  }
  const copy = (from: tf.layers.Layer, to: tf.layers.Layer) => {
    if (from.weights.length === 0) return;
    const values = tf.tidy(() => from.getWeights().map((w) => w.clone()));
    to.setWeights(values);
    tf.dispose(values);
  };
  // Frozen flags follow the whole model's head.
  const flags = () => pairs.forEach(([a, b]) => (b!.trainable = a.trainable));
  return {
    model: alone,
    pull: () => (flags(), pairs.forEach(([a, b]) => copy(a, b!))),
    push: () => pairs.forEach(([a, b]) => copy(b!, a)),
    dispose: () => alone.dispose(),
  };
}

/** What a row records of where its stages trained, from each stage's path and reason. */
export function trainingPath(stages: readonly { path: 'features' | 'images'; reason: string }[], features?: { storage: Storage; built: boolean; seconds: number }): TrainingPath {
  const paths = new Set(stages.map((s) => s.path));
  const only = stages[0];
  const path = paths.size === 1 ? (only?.path ?? 'images') : 'mixed';
  const reason = paths.size === 1 ? (only?.reason ?? 'no stage ran') : stages.map((s, i) => `stage ${i + 1}: ${s.reason}`).join('; ');
  return {
    path,
    reason,
    ...(stages.length > 1 ? { stages: stages.map((s) => ({ ...s })) } : {}),
    ...(features ? { features: { storage: features.storage, computed: features.built, seconds: Math.round(features.seconds * 100) / 100 } } : {}),
  };
}
