// The records a result row keeps of what core's fit loop, planner and timings produced. They are
// defined here, with the schema that persists them, and core fills them in.

/** The trainer every plan has unless it names others: plain SGD, the seed experiment's. */
export const DEFAULT_TRAINER = 'sgd';

export interface ParamCounts {
  total: number;
  trainable: number;
  nonTrainable: number;
  /** The head's parameters (everything that is not the backbone's). */
  head: number;
}

export interface EpochMetrics {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss: number;
  valAccuracy: number;
  seconds: number;
}

export interface Engine {
  engine: 'graph' | 'eager';
  reason?: string;
}

export interface Engines {
  /** How the training step ran; with several stages, eager if any stage was, with its reason. */
  train: Engine;
  inference: Engine;
  /** With several stages: each stage's step. */
  stages?: Engine[];
}

/**
 * Where a row's head trained: on the frozen backbone's features, computed once and kept in the
 * feature cache (`features`), or on the images through the whole model (`images`), or some
 * stages each way (`mixed`, a freeze-then-finetune recipe); with the reason for each.
 */
export interface TrainingPath {
  path: 'features' | 'images' | 'mixed';
  reason: string;
  /** With several stages, each stage's path and reason. */
  stages?: { path: 'features' | 'images'; reason: string }[];
  /** Where the features were read from (memory or streamed from the cache) and whether this row computed them, in how many seconds. */
  features?: { storage: 'memory' | 'stream'; computed: boolean; seconds: number };
}

/** What tinybench measured for one task, in its own field names (milliseconds). */
export interface TaskTiming {
  name: string;
  samples: number;
  latency: { p50: number; p99: number; mean: number; rme: number; min: number; max: number };
  /** Calls per second (tinybench's `throughput.mean`). */
  throughput: number;
  /** The first call, before any warm-up: graph set-up and kernel selection. */
  coldMs: number;
  warmupCalls: number;
  /** `tf.memory().numTensors` before and after the timed calls; growth is a leak. */
  tensors: { before: number; after: number; leakedPerCall: number };
}

export interface ModelBench {
  train: TaskTiming;
  inference: TaskTiming;
  inferenceSingle: TaskTiming;
  imagesPerSecond: { train: number; inference: number };
  /** How inference ran: one TensorFlow graph, or eager ops (and why). */
  inferenceEngine: { engine: 'graph' | 'eager'; reason?: string };
  /** How the training step ran: one TensorFlow graph, or eager ops (and why). */
  trainEngine: { engine: 'graph' | 'eager'; reason?: string };
  /** Which of the trainer's stages was timed (1-based) and whether it trained the whole model, with several stages. */
  stage?: { index: number; of: number; train: 'all' | 'head' };
  /** Peak resident memory of the process so far, in MB. */
  peakRssMB: number;
  /** The head's own training step, alone on random features of the backbone's shape: what the head costs without the backbone. */
  headTrain?: TaskTiming;
}
