import type { CorrectnessRecord } from '@headbench/stats';
import type { Engines, EpochMetrics, ModelBench, ParamCounts, TrainingPath } from './records.js';

export type RowStatus = 'ok' | 'diverged' | 'error';

/** One combination's outcome. Every field a report or a nightly comparison reads is here. */
export interface ResultRow {
  /** The combination's id (`backbone|head|lr=...|seed=...`, as core's planner makes it). */
  id: string;
  backbone: string;
  head: string;
  lr: number;
  seed: number;
  /** The trainer's canonical specifier; absent in results from before the trainer axis, which all trained with `sgd`. */
  trainer?: string;
  status: RowStatus;
  /** For `error`: what went wrong, in one line. */
  error?: string;
  /** For `error`: the signal the training process died of in native code (`SIGFPE`, ...), where it did. */
  signal?: string;
  /** Name, every option and version of each plugin; `trainer` since the trainer axis. */
  plugins: { backbone: string; head: string; trainer?: string };
  inputSize: number;
  classes: number;
  batchSize: number;
  epochs: number;
  /** SGD's momentum, on rows trained with the sgd trainer (every row before the trainer axis). */
  momentum?: number;
  dataset: string;
  trainImages: number;
  valImages: number;
  /** Images of the test split, evaluated once after training (absent without a test split). */
  testImages?: number;
  weights?: string;
  featureShape?: readonly number[];
  params?: ParamCounts;
  history: EpochMetrics[];
  finalValAccuracy: number | null;
  bestValAccuracy: number | null;
  finalValLoss: number | null;
  /** The training images in inference mode after the last epoch. */
  trainAccuracyInference: number | null;
  /** The test split after training, evaluated once (absent without a test split). */
  testAccuracy?: number | null;
  testLoss?: number | null;
  /**
   * Which evaluation images the trained model got right: val after the last epoch, and test.
   * Compact bitsets with a fingerprint of the images, so comparisons pair rows image by image.
   */
  perImage?: { val?: CorrectnessRecord; test?: CorrectnessRecord };
  divergedAt?: { epoch: number; step: number; loss: number };
  /** Full-batch steps after each stage's first; with several stages (a frozen then a full one), each stage's median too. */
  stepTime?: { coldMs: number; medianMs: number; p90Ms: number; samples: number; imagesPerSecond: number; samplesMs: number[]; stages?: { medianMs: number; samples: number }[] };
  tensors?: { afterFirstStep: number; afterLastStep: number; leaked: number };
  /** How the training step and evaluation ran: one TensorFlow graph each, or eager ops and why. */
  engines?: Engines;
  /** Whether the head trained on the frozen backbone's cached features or on the images through the whole model, and why. */
  path?: TrainingPath;
  /** tinybench timings of the trained model: train step, inference at the batch size and at 1. */
  bench?: ModelBench;
  /** Why the timings after training failed (the row's training results stand). */
  benchError?: string;
  skippedFiles: number;
  seconds: number;
  finishedAt: string;
}
