import type { tf } from '@headbench/engine';

/**
 * Images of one split, decoded and resized to one input size: `images` holds RGB values in
 * [0, 255] (the backbone's preprocessing is applied per batch), `labels` the class indices.
 */
export interface LabeledImages {
  images: tf.Tensor4D;
  labels: Int32Array;
  /** Identifies these images in this order (files and labels), so per-image results pair only on the same images. */
  fingerprint?: string;
}

/** A file that was listed but could not be decoded. */
export interface SkippedFile {
  file: string;
  reason: string;
}

/**
 * A classification dataset the trainer reads. Sources load lazily per input size and keep what
 * they decoded, so every combination of one input size shares one copy in memory.
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
  load(inputSize: number): Promise<{ train: LabeledImages; val: LabeledImages; test?: LabeledImages }>;
  /** Frees every cached tensor. */
  dispose(): void;
}
