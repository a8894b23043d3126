import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { cacheRoot } from '@headbench/engine';
import { UsageError } from '@headbench/errors';
import type { Storage } from './dataset.js';
import { cacheWriteError, formatBytes, listEntries, makeDir, publish, readManifestIn, removeAbandoned, removeEntries, type CacheEntry } from './image-cache.js';
import { FileRows, MemoryRows, type RowStore } from './rows.js';

/**
 * The feature cache: a frozen backbone's feature map of every row of one image cache entry, as
 * float32, so a head trained on a frozen backbone without augmentation reads them instead of
 * running the backbone. One folder per backbone (spec and a hash of its weights), input size and
 * image cache entry under `<headbench cache>/features/`, holding `features.f32` (one row per
 * image row, in the image entry's order) and `manifest.json`. Built in a `.partial-` folder and
 * renamed into place when complete, the manifest written last, as the image cache is: a killed
 * run or a full disk never leaves features that a later run reads.
 */
export const FEATURE_CACHE_FORMAT = 'headbench/feature-cache';
/** Bump when a row's bytes or the manifest change meaning; older entries are computed again. */
export const FEATURE_CACHE_VERSION = 1;
const MANIFEST = 'manifest.json';
const FEATURES = 'features.f32';

export function featureCacheDir(root: string = cacheRoot()): string {
  return path.join(root, 'features');
}

/** What features are computed from: any change to one of these computes them again. */
export interface FeatureKey {
  /** The backbone's canonical specifier (`mobilenetv2:alpha=0.35,...`) and plugin version. */
  backbone: string;
  /** sha256 of the backbone's weights, in the model's order. */
  weights: string;
  inputSize: number;
  /** The image cache entry (folder) and when it was written: a rebuilt entry has new rows. */
  images: string;
  imagesCreatedAt: string;
  /** The TensorFlow that computed them. */
  runtime: string;
}

export interface FeatureManifest {
  format: typeof FEATURE_CACHE_FORMAT;
  version: number;
  key: FeatureKey;
  /** The image folder the rows were decoded from (what `headbench cache clear <folder>` matches). */
  folder: string;
  shape: [number, number, number];
  rows: number;
  rowBytes: number;
  createdAt: string;
  seconds: number;
}

export interface FeatureRequest {
  key: FeatureKey;
  folder: string;
  shape: readonly [number, number, number];
  rows: number;
  root?: string;
}

/** Called by `cachedFeatures` to fill the rows: `write(first, values)` stores rows from `first` on. */
export type FeatureWriter = (write: (first: number, values: Float32Array) => void) => Promise<void>;

export interface CachedFeatures {
  dir: string;
  file: string;
  manifest: FeatureManifest;
  bytes: number;
  /** Whether this call computed them (false: found complete and current). */
  built: boolean;
  /** Why an entry found there was not used, when one was. */
  rebuilt?: string;
}

function entryName(key: FeatureKey): string {
  const slug = path.basename(key.images).replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60) || 'images';
  const backbone = key.backbone.split('@')[0]!.replace(/[^A-Za-z0-9._=-]+/g, '_').slice(0, 40);
  // Not keyed by imagesCreatedAt: a rebuilt image entry replaces its features instead of leaving them.
  const hash = createHash('sha256').update(JSON.stringify([key.backbone, key.weights, key.inputSize, key.images])).digest('hex').slice(0, 12);
  return `${backbone}-${slug}-${hash}`;
}

const readManifest = (dir: string) => readManifestIn<FeatureManifest>(dir, FEATURE_CACHE_FORMAT, 'feature cache');

/** Why an entry cannot serve this request, or undefined when it can. */
function staleness(m: FeatureManifest, dir: string, request: FeatureRequest): string | undefined {
  if (m.version !== FEATURE_CACHE_VERSION) return `it was written by feature cache format ${m.version} (this headbench writes format ${FEATURE_CACHE_VERSION})`;
  const k = m.key;
  if (k.imagesCreatedAt !== request.key.imagesCreatedAt) return 'its images were decoded again since (the image folder changed)';
  if (k.runtime !== request.key.runtime) return `it was computed by ${k.runtime}, this run has ${request.key.runtime}`;
  if (k.weights !== request.key.weights || k.backbone !== request.key.backbone || k.inputSize !== request.key.inputSize) return 'it holds another backbone\'s features';
  if (m.rows !== request.rows || m.shape.join('x') !== request.shape.join('x')) return `it has ${m.rows} rows of ${m.shape.join('x')} where ${request.rows} of ${request.shape.join('x')} are wanted`;
  const expected = m.rows * m.rowBytes;
  const size = fs.statSync(path.join(dir, FEATURES), { throwIfNoEntry: false })?.size;
  if (size !== expected) return `its ${FEATURES} has ${size ?? 'no'} bytes where the manifest says ${expected}`;
  return undefined;
}

/**
 * The features of `request`: found complete and current, or computed now by `fill` into a
 * temporary folder that is renamed into place when complete.
 */
export async function cachedFeatures(request: FeatureRequest, fill: FeatureWriter): Promise<CachedFeatures> {
  const featuresDir = featureCacheDir(request.root ?? cacheRoot());
  const dir = path.join(featuresDir, entryName(request.key));
  const found = readManifest(dir);
  let rebuilt: string | undefined;
  if (found && !('unreadable' in found)) {
    rebuilt = staleness(found, dir, request);
    if (rebuilt === undefined) return { dir, file: path.join(dir, FEATURES), manifest: found, bytes: found.rows * found.rowBytes, built: false };
  } else if (found) rebuilt = found.unreadable;
  const [h, w, c] = request.shape;
  const rowBytes = h * w * c * 4;
  const needed = request.rows * rowBytes;
  const started = performance.now();
  const tmp = `${dir}.partial-${process.pid}-${Date.now().toString(36)}`;
  try {
    makeDir(featuresDir);
    removeAbandoned(featuresDir);
    const stats = fs.statfsSync(featuresDir);
    const free = stats.bavail * stats.bsize;
    if (free < needed + 2 ** 20) {
      throw new UsageError(
        `the feature cache needs ${formatBytes(needed)} in ${featuresDir} (${request.rows} images of ${h}x${w}x${c} features) and ${formatBytes(free)} are free; ` +
          'free space there, clear old caches (headbench cache clear), set HEADBENCH_CACHE_DIR to a disk with room, or train without it (--no-feature-cache)',
      );
    }
    fs.mkdirSync(tmp);
    const file = path.join(tmp, FEATURES);
    const fd = fs.openSync(file, 'w');
    try {
      await fill((first, values) => {
        if (values.length % (h * w * c) !== 0) throw new Error(`features of ${values.length} values are not whole rows of ${h}x${w}x${c}`);
        const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
        for (let offset = 0; offset < bytes.length; ) {
          const n = fs.writeSync(fd, bytes, offset, bytes.length - offset, first * rowBytes + offset);
          if (n === 0) throw Object.assign(new Error('short write'), { code: 'ENOSPC' });
          offset += n;
        }
      });
      const size = fs.fstatSync(fd).size;
      if (size !== needed) throw new Error(`the backbone wrote ${size} bytes of features where ${needed} were expected`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    const manifest: FeatureManifest = {
      format: FEATURE_CACHE_FORMAT,
      version: FEATURE_CACHE_VERSION,
      key: request.key,
      folder: request.folder,
      shape: [h, w, c],
      rows: request.rows,
      rowBytes,
      createdAt: new Date().toISOString(),
      seconds: Math.round(((performance.now() - started) / 1000) * 100) / 100,
    };
    const mfd = fs.openSync(path.join(tmp, MANIFEST), 'w');
    try {
      fs.writeSync(mfd, JSON.stringify(manifest));
      fs.fsyncSync(mfd);
    } finally {
      fs.closeSync(mfd);
    }
    publish(tmp, dir, () => {
      const there = readManifest(dir);
      return !!there && !('unreadable' in there) && staleness(there, dir, request) === undefined;
    });
    return { dir, file: path.join(dir, FEATURES), manifest, bytes: needed, built: true, ...(rebuilt ? { rebuilt } : {}) };
  } catch (error) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (error instanceof UsageError) throw error;
    throw cacheWriteError(error, featuresDir, needed, 'feature cache');
  }
}

/** The rows of an entry: in memory, or read from its file batch by batch. */
export function openFeatures(entry: Pick<CachedFeatures, 'file' | 'manifest'>, storage: Storage): RowStore {
  const { rowBytes, rows } = entry.manifest;
  return storage === 'memory' ? MemoryRows.fromFile(entry.file, rowBytes, rows) : new FileRows(entry.file, rowBytes, rows);
}

/** A split's features: image i is row `rows[i]` of a store of float32 feature maps. */
export interface FeatureSplit {
  readonly count: number;
  readonly shape: readonly [number, number, number];
  readonly labels: Int32Array;
  readonly storage: Storage;
  readonly fingerprint?: string;
  /** Copies the feature rows of the images at `indices`, in order, into `into` (a new array when not given). */
  read(indices: Int32Array, into?: Float32Array): Promise<Float32Array>;
}

export function featureSplit(store: RowStore, rows: Int32Array, labels: Int32Array, shape: readonly [number, number, number], fingerprint?: string): FeatureSplit {
  const values = shape[0] * shape[1] * shape[2];
  if (store.rowBytes !== values * 4) throw new Error(`rows of ${store.rowBytes} bytes are not ${shape.join('x')} float32 features`);
  if (rows.length !== labels.length) throw new Error(`${rows.length} rows but ${labels.length} labels`);
  return {
    count: rows.length,
    shape,
    labels,
    storage: store.storage,
    ...(fingerprint ? { fingerprint } : {}),
    async read(indices, into) {
      const out = into ?? new Float32Array(indices.length * values);
      if (out.length < indices.length * values) throw new RangeError(`a buffer of ${out.length} values cannot hold ${indices.length} feature maps of ${values}`);
      const mapped = Int32Array.from(indices, (i) => {
        if (!(i >= 0 && i < rows.length)) throw new RangeError(`image ${i} is outside the split of ${rows.length}`);
        return rows[i] as number;
      });
      await store.read(mapped, new Uint8Array(out.buffer, out.byteOffset, indices.length * values * 4));
      return out;
    },
  };
}

export interface FeatureBatch {
  indices: Int32Array;
  /** `indices.length` feature maps; valid until the next batch is asked for. */
  values: Float32Array;
  labels: Int32Array;
}

/** The batches of a feature split in `order`, batch k+1 read while the caller works on batch k (as `batches`). */
export async function* featureBatches(split: FeatureSplit, order: Int32Array, batchSize: number): AsyncGenerator<FeatureBatch> {
  const values = split.shape[0] * split.shape[1] * split.shape[2];
  const steps = Math.ceil(order.length / batchSize);
  if (steps === 0) return;
  const size = Math.min(batchSize, order.length) * values;
  const buffers = [new Float32Array(size), new Float32Array(size)];
  const indicesOf = (k: number) => order.subarray(k * batchSize, Math.min((k + 1) * batchSize, order.length));
  let pending: Promise<Float32Array> | undefined = split.read(indicesOf(0), buffers[0]);
  try {
    for (let k = 0; k < steps; k++) {
      const read = await (pending as Promise<Float32Array>);
      pending = k + 1 < steps ? split.read(indicesOf(k + 1), buffers[(k + 1) % 2]) : undefined;
      const indices = indicesOf(k);
      yield { indices, values: read.subarray(0, indices.length * values), labels: Int32Array.from(indices, (i) => split.labels[i] as number) };
    }
  } finally {
    pending?.catch(() => undefined);
  }
}

/** Every entry of the feature cache, complete or not, largest first. */
export function listFeatureCache(root: string = cacheRoot()): CacheEntry[] {
  return listEntries(featureCacheDir(root), readManifest, (m) => ({
    status: m.version === FEATURE_CACHE_VERSION ? 'ok' : 'other-version',
    folder: m.folder,
    inputSize: m.key.inputSize,
    images: m.rows,
    createdAt: m.createdAt,
    backbone: `${m.key.backbone} (weights ${m.key.weights.slice(0, 12)})`,
  }));
}

/** Removes feature cache entries (all, or those computed from the given image folders) and returns them. */
export function clearFeatureCache(root: string = cacheRoot(), folders?: readonly string[]): CacheEntry[] {
  return removeEntries(listFeatureCache(root), folders);
}
