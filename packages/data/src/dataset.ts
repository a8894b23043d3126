/**
 * The images of one split at one input size, read batch by batch. Pixels are RGB bytes in
 * [0, 255], one row of `inputSize * inputSize * 3` bytes per image (row-major, channels last);
 * the trainer turns a batch into a float tensor and applies the backbone's preprocessing.
 * Implementations keep every row in memory or read them from the decode cache on disk; both
 * give the same bytes.
 */
export interface ImageSplit {
  /** How many images. */
  readonly count: number;
  /** Side of the square images, in pixels. */
  readonly inputSize: number;
  /** The class index of every image. */
  readonly labels: Int32Array;
  /** Where the rows are: all in memory, or read from the cache file per batch. */
  readonly storage: Storage;
  /** The file each image was decoded from, where there is one (the same order as `labels`). */
  readonly files?: readonly string[];
  /** Identifies these images in this order (files and labels), so per-image results pair only on the same images. */
  readonly fingerprint?: string;
  /** The image cache entry the rows are read from, where there is one (the feature cache is keyed by it). */
  readonly source?: SplitSource;
  /**
   * Copies the rows of the images at `indices`, in that order, into `into` (at least
   * `indices.length` rows long; a new array when not given) and resolves with it.
   */
  read(indices: Int32Array, into?: Uint8Array): Promise<Uint8Array>;
}

export type Storage = 'memory' | 'stream';

/**
 * Where a split's rows come from: an image cache entry (one folder at one size) and the rows of
 * it the split takes, in order. Its `createdAt` changes whenever the entry is rebuilt.
 */
export interface SplitSource {
  /** The image cache entry's folder. */
  cache: string;
  /** The image folder it decodes (its real path). */
  folder: string;
  createdAt: string;
  /** Its rows file and how many rows it has. */
  pixelsFile: string;
  images: number;
  /** Image i of the split is row `rows[i]` of the entry. */
  rows: Int32Array;
}

/** A file that was listed but could not be decoded. */
export interface SkippedFile {
  file: string;
  reason: string;
}

/** What a dataset reports while it loads, for progress displays and notes. */
export type DatasetEvent =
  /** Decoding starts: `images` files to decode into the cache at `cache`. */
  | { type: 'decode-start'; folder: string; images: number; inputSize: number; cache: string }
  | { type: 'decode-progress'; folder: string; done: number; images: number }
  | { type: 'decode-end'; folder: string; images: number; inputSize: number; seconds: number; bytes: number; workers: number; cache: string }
  /** A complete cache was found and used: nothing was decoded. */
  | { type: 'cache-hit'; folder: string; images: number; inputSize: number; bytes: number; cache: string }
  /** Where the decoded images are kept for this run, and why. */
  | { type: 'storage'; storage: Storage; bytes: number; budget: number }
  /** Something worth a line: a cache that was rebuilt and why. */
  | { type: 'note'; message: string };

/**
 * A classification dataset the trainer reads. `load` decodes (or finds in the cache) every image
 * at one input size; every combination of that size shares what it returns.
 */
export interface ImageDataset {
  /** How the results name it: `synthetic(...)` or the folder paths. */
  name: string;
  classes: readonly string[];
  trainCount: number;
  valCount: number;
  /** Images of the test split (`--test` or `--test-split`), evaluated once after training; 0 without one. */
  testCount?: number;
  /** Files skipped because they did not decode (also counted in every result row). */
  skipped: readonly SkippedFile[];
  load(inputSize: number): Promise<{ train: ImageSplit; val: ImageSplit; test?: ImageSplit }>;
  /** Frees what `load` kept: rows in memory, open cache files. */
  dispose(): void;
}
