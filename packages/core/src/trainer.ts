import { performance } from 'node:perf_hooks';
import { augments, compileInference, createTrainStep, tf, type InferenceModel, type TrainStep, type TrainStepConfig } from '@headbench/engine';
import { batches, batchTensors, featureBatches, type FeatureSplit, type ImageBatch, type ImageSplit } from '@headbench/data';
import { UsageError } from '@headbench/errors';
import type { Engine, Engines, EpochMetrics, TrainingPath } from '@headbench/results';
import { deriveSeed, seededRandom, shuffledIndices } from '@headbench/stats';
import { backboneChanges, trainingPath, type HeadOnly, type SplitFeatures } from './features.js';
import type { TrainerPlugin, TrainingRecipe, TrainingStage } from './plugin.js';

export type TrainProgress =
  | { type: 'step'; epoch: number; epochs: number; step: number; steps: number; loss: number }
  | { type: 'epoch'; metrics: EpochMetrics; epochs: number };

export interface TrainOptions {
  /** The combination's learning rate; the trainer's recipe starts from it. */
  lr: number;
  epochs: number;
  batchSize: number;
  /** Seeds the order of training images in every epoch, and augmentation. */
  seed: number;
  /** A training loss above this, or not finite, stops the run as diverged. */
  divergenceLoss: number;
  onProgress?: (event: TrainProgress) => void;
}

export interface TrainData {
  train: ImageSplit;
  val: ImageSplit;
  /** Evaluated once after training, never during it (model selection uses val). */
  test?: ImageSplit;
  classes: number;
  /** The backbone's preprocessing, applied to each batch of [0, 255] RGB images (float32). */
  preprocess: (images: tf.Tensor4D) => tf.Tensor4D;
  /** The backbone's layers in the model, which a `head` stage freezes (composeModel's `backboneLayers`). */
  backboneLayers?: readonly tf.layers.Layer[];
  /**
   * The frozen backbone's features, for stages that train with it frozen and without
   * augmentation: the head alone then trains and evaluates on them. Absent, or `off` given:
   * every stage runs the images through the whole model.
   */
  features?: FeatureSource;
}

/** Where a stage can get the backbone's features from (run.ts makes one per combination). */
export interface FeatureSource {
  /** Why no stage uses features (`--no-feature-cache`, a synthetic backbone...), when none may. */
  off?: string;
  /**
   * The features of train, val and test through the backbone as it is now, and the head alone
   * on a feature input; throws (the stage then runs on images, saying why) when they cannot be had.
   */
  load(): Promise<{ splits: SplitFeatures; head: HeadOnly }>;
}

export interface TrainOutcome {
  status: 'ok' | 'diverged';
  /** Where the loss left the finite range or crossed `divergenceLoss`. */
  divergedAt?: { epoch: number; step: number; loss: number };
  history: EpochMetrics[];
  /** The training images evaluated in inference mode after the last epoch (Keras' `evaluate`). */
  trainInference?: { loss: number; accuracy: number };
  /** Which val images the last epoch's model got right (1) or wrong (0), in the split's order. */
  valCorrect?: Uint8Array;
  /** The test split after training, with which images it got right. */
  test?: Evaluation;
  /**
   * Wall time of the first step (graph set-up, kernel selection) and of every later full batch;
   * each stage's first step compiles its own graph and is left out. With several stages, each
   * stage's samples too.
   */
  stepMs: { cold: number; samples: number[]; stages?: number[][] };
  /**
   * `tf.memory().numTensors` after the first step and after the last; `leaked` is what the
   * stages grew by from their first step to their last (a stage's own state comes and goes).
   */
  tensors: { afterFirstStep: number; afterLastStep: number; leaked: number };
  /** How training and evaluation ran: one TensorFlow graph each, or eager ops and why. */
  engines: Engines;
  /** Which stages trained the head on cached features and which on images, and why. */
  path: TrainingPath;
}

/**
 * tfjs-node's `data()` resolves at once, so a training loop of awaits never reaches the event
 * loop: Ctrl-C, timers and progress redraws would wait until the whole run ends. One
 * setImmediate per step lets them in, for microseconds.
 */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

function batchOf(data: TrainData, split: ImageSplit, batch: ImageBatch): { x: tf.Tensor4D; y: tf.Tensor1D } {
  return tf.tidy(() => {
    const { images, labels } = batchTensors(batch, split.inputSize);
    return { x: data.preprocess(images), y: labels };
  });
}

type SplitName = 'train' | 'val' | 'test';

/**
 * What a stage trains and evaluates: the whole model on the images, or the head alone on the
 * backbone's cached features. Both give batches of the same images in the same order.
 */
interface Path {
  kind: 'images' | 'features';
  model: tf.LayersModel;
  count(split: SplitName): number;
  batches(split: SplitName, order: Int32Array, batchSize: number): AsyncGenerator<{ x: tf.Tensor4D; y: tf.Tensor1D; n: number }>;
  /** The model's inference graph, compiled on first use and kept (it follows the weights). */
  inference(): Promise<InferenceModel>;
  dispose(): void;
}

function lazyInference(model: tf.LayersModel) {
  let compiled: Promise<InferenceModel> | undefined;
  return {
    get: () => (compiled ??= compileInference(model)),
    dispose: () => void compiled?.then(
      (m) => m.dispose(),
      () => undefined,
    ),
  };
}

function imagePath(model: tf.LayersModel, data: TrainData): Path {
  const inference = lazyInference(model);
  const splitOf = (name: SplitName) => (name === 'test' ? data.test : data[name]) as ImageSplit;
  return {
    kind: 'images',
    model,
    count: (name) => splitOf(name).count,
    async *batches(name, order, batchSize) {
      const split = splitOf(name);
      for await (const batch of batches(split, order, batchSize)) yield { ...batchOf(data, split, batch), n: batch.indices.length };
    },
    inference: inference.get,
    dispose: inference.dispose,
  };
}

function featurePath(head: HeadOnly, splits: SplitFeatures): Path {
  const inference = lazyInference(head.model);
  const splitOf = (name: SplitName) => (name === 'test' ? splits.test : splits[name]) as FeatureSplit;
  return {
    kind: 'features',
    model: head.model,
    count: (name) => splitOf(name).count,
    async *batches(name, order, batchSize) {
      const split = splitOf(name);
      const [h, w, c] = split.shape;
      for await (const batch of featureBatches(split, order, batchSize)) {
        const n = batch.indices.length;
        // tfjs-node keeps the array it is given until the tensor is first used, so each batch gets its own.
        yield { x: tf.tensor4d(batch.values.slice(), [n, h, w, c]), y: tf.tensor1d(batch.labels, 'int32'), n };
      }
    },
    inference: inference.get,
    dispose: inference.dispose,
  };
}

export interface Evaluation {
  loss: number;
  accuracy: number;
  /** Per image of the split, in order: 1 where the prediction was right. */
  correct: Uint8Array;
}

/**
 * Mean sparse categorical cross-entropy on logits, accuracy and per-image correctness over a
 * split, in inference mode.
 * Give it the model's `compileInference` when evaluating more than once (each epoch): the graph
 * is built once and follows the weights as they train.
 */
export async function evaluate(
  model: tf.LayersModel | InferenceModel,
  data: TrainData,
  split: ImageSplit,
  batchSize: number,
): Promise<Evaluation> {
  const inference = 'engine' in model ? model : await compileInference(model);
  try {
    const n = split.count;
    async function* of() {
      for await (const batch of batches(split, Int32Array.from({ length: n }, (_, i) => i), batchSize)) yield { ...batchOf(data, split, batch), n: batch.indices.length };
    }
    return await evaluateWith(inference, data.classes, n, of());
  } finally {
    if (inference !== model) inference.dispose();
  }
}

async function evaluateOn(path: Path, split: SplitName, classes: number, batchSize: number): Promise<Evaluation> {
  const n = path.count(split);
  return evaluateWith(await path.inference(), classes, n, path.batches(split, Int32Array.from({ length: n }, (_, i) => i), batchSize));
}

async function evaluateWith(inference: InferenceModel, classes: number, n: number, batchesOf: AsyncIterable<{ x: tf.Tensor4D; y: tf.Tensor1D; n: number }>): Promise<Evaluation> {
  let lossSum = 0;
  let correct = 0;
  const perImage = new Uint8Array(n);
  let start = 0;
  for await (const { x, y, n: size } of batchesOf) {
    const [l, c] = tf.tidy(() => {
      const logits = inference.predict(x) as tf.Tensor2D;
      const perExample = tf.losses.softmaxCrossEntropy(tf.oneHot(y, classes), logits, undefined, 0, tf.Reduction.NONE);
      return [perExample.sum(), tf.equal(tf.argMax(logits, 1), y).asType('int32')];
    });
    lossSum += (await (l as tf.Tensor).data())[0] as number;
    const hits = (await (c as tf.Tensor).data()) as Int32Array;
    for (let i = 0; i < hits.length; i++) {
      perImage[start + i] = hits[i] as number;
      correct += hits[i] as number;
    }
    tf.dispose([x, y, l as tf.Tensor, c as tf.Tensor]);
    start += size;
    await yieldToEventLoop();
  }
  return { loss: lossSum / n, accuracy: correct / n, correct: perImage };
}

/**
 * Checks a trainer's recipe against the run before anything trains: stages that add up to the
 * epochs, a learning rate for the first step, freezing only where a backbone is known. Throws a
 * UsageError naming the trainer.
 */
export function checkRecipe(trainer: TrainerPlugin, recipe: TrainingRecipe, epochs: number, canFreeze = true): TrainingRecipe {
  const name = trainer.meta.name;
  const stages = recipe.stages;
  if (!Array.isArray(stages) || stages.length === 0) throw new UsageError(`trainer ${name}: its recipe has no stages`);
  const total = stages.reduce((sum, s) => sum + s.epochs, 0);
  stages.forEach((stage, i) => {
    if (!(Number.isInteger(stage.epochs) && stage.epochs >= 1)) throw new UsageError(`trainer ${name}: stage ${i + 1} has ${stage.epochs} epochs; each stage needs at least 1`);
    if (stage.train !== 'all' && stage.train !== 'head') throw new UsageError(`trainer ${name}: stage ${i + 1} trains ${JSON.stringify(stage.train)}; expected "all" or "head"`);
    if (stage.train === 'head' && !canFreeze) throw new UsageError(`trainer ${name}: stage ${i + 1} freezes the backbone, but this model has no backbone layers to freeze`);
    const first = stage.learningRate(0);
    if (!(Number.isFinite(first) && first >= 0)) throw new UsageError(`trainer ${name}: stage ${i + 1} starts at learning rate ${first}; expected a number >= 0`);
  });
  if (total !== epochs) throw new UsageError(`trainer ${name}: its stages train ${total} epochs (${stages.map((s) => s.epochs).join(' + ')}) but the run has ${epochs}`);
  const smoothing = recipe.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing < 1)) throw new UsageError(`trainer ${name}: label smoothing ${smoothing} is not in [0, 1)`);
  return recipe;
}

/** The training step's configuration for one stage of a recipe. */
export function stageStepConfig(recipe: TrainingRecipe, stage: TrainingStage, index: number, seed: number): TrainStepConfig {
  return {
    optimizer: typeof stage.optimizer === 'function' ? stage.optimizer() : stage.optimizer,
    learningRate: (step) => stage.learningRate(step),
    labelSmoothing: recipe.labelSmoothing ?? 0,
    ...(recipe.augment ? { augment: recipe.augment } : {}),
    // The seed of the stage's random streams (augmentation, stochastic depth, ...).
    seed: deriveSeed(seed, index === 0 ? 'train step' : `train step, stage ${index + 1}`),
  };
}

/** Freezes the backbone's layers for a `head` stage; returns what puts their flags back. */
export function freeze(layers: readonly tf.layers.Layer[]): () => void {
  const was = layers.map((l) => l.trainable);
  for (const layer of layers) layer.trainable = false;
  return () => layers.forEach((l, i) => (l.trainable = was[i] as boolean));
}

/**
 * Trains a composed model with a trainer's recipe and evaluates it after every epoch: softmax
 * cross-entropy on the logits, BatchNorm in training mode during fit and in inference mode for
 * evaluation (a frozen one always in inference mode), as in Keras. Each stage gets a fresh
 * training step (its optimiser state from zero, its learning rate fed at every step); the
 * order of the images is seeded per epoch and does not depend on the trainer.
 *
 * A stage that trains with the backbone frozen and no augmentation trains the head alone on the
 * backbone's features (`data.features`), which are what the whole model would compute: the same
 * images in the same order, the same updates. Its head weights are copied back into the model
 * after the stage, so later stages, the evaluations and the timings see them.
 */
export async function fitModel(model: tf.LayersModel, data: TrainData, trainer: TrainerPlugin, options: TrainOptions): Promise<TrainOutcome> {
  const { lr, epochs, batchSize, seed, divergenceLoss, onProgress } = options;
  if (!(lr > 0)) throw new UsageError(`learning rate must be > 0, got ${lr}`);
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new UsageError(`batch size must be a positive integer, got ${batchSize}`);
  if (!(Number.isInteger(epochs) && epochs >= 1)) throw new UsageError(`epochs must be a positive integer, got ${epochs}`);
  const n = data.train.count;
  const steps = Math.ceil(n / batchSize);
  const recipe = checkRecipe(trainer, trainer.recipe({ lr, epochs, stepsPerEpoch: steps }), epochs, (data.backboneLayers?.length ?? 0) > 0);
  const images = imagePath(model, data);
  const history: EpochMetrics[] = [];
  const stepMs: number[] = [];
  const stageMs: number[][] = [];
  const engines: Engines['stages'] = [];
  const stagePaths: { path: 'features' | 'images'; reason: string }[] = [];
  let featureInfo: { storage: 'memory' | 'stream'; built: boolean; seconds: number } | undefined;
  let features: { path: Path; head: HeadOnly } | undefined;
  let cold = Number.NaN;
  let afterFirstStep = Number.NaN;
  let afterLastStep = 0;
  let leaked = 0;
  let divergedAt: TrainOutcome['divergedAt'];
  let valCorrect: Uint8Array | undefined;
  let epoch = 0;
  let last: Path = images;

  /** The path a stage trains on, and why. */
  const choosePath = async (stage: TrainingStage): Promise<{ path: Path; reason: string }> => {
    const source = data.features;
    const offReason = !source
      ? 'no feature cache for this run'
      : source.off ??
        (augments(recipe.augment) ? 'the trainer augments the images (flip, zoom), so the features change at every step' : undefined) ??
        (!data.backboneLayers?.length ? 'the model has no backbone layers to compute features with' : undefined) ??
        backboneChanges(data.backboneLayers ?? []);
    if (offReason !== undefined || !source) return { path: images, reason: offReason ?? 'no feature cache for this run' };
    try {
      if (!features) {
        const loaded = await source.load();
        features = { path: featurePath(loaded.head, loaded.splits), head: loaded.head };
        featureInfo = { storage: loaded.splits.storage, built: loaded.splits.built, seconds: loaded.splits.seconds };
      }
      const why = stage.train === 'head' ? 'the backbone is frozen for this stage' : 'the backbone is frozen';
      return { path: features.path, reason: `${why} and the images are not augmented: the head trained on its cached features` };
    } catch (error) {
      if (error instanceof UsageError) throw error;
      return { path: images, reason: `the features could not be had (${(error as Error).message.split('\n')[0]})` };
    }
  };

  const runStage = async (stage: TrainingStage, index: number, path: Path) => {
    const config = stageStepConfig(recipe, stage, index, seed);
    let trainStep: TrainStep | undefined;
    const samples: number[] = [];
    stageMs.push(samples);
    try {
      trainStep = createTrainStep(path.model, config, data.classes);
      // Compiled before the first step, so the folded weights it keeps are counted from the start.
      await path.inference();
      let first = Number.NaN;
      for (let e = 1; e <= stage.epochs && !divergedAt; e++) {
        epoch += 1;
        const started = performance.now();
        const order = shuffledIndices(n, seededRandom(deriveSeed(seed, `epoch ${epoch}`)));
        let lossSum = 0;
        let correct = 0;
        let step = 0;
        // batches() reads batch k+1 while step k runs.
        for await (const { x, y, n: size } of path.batches('train', order, batchSize)) {
          step += 1;
          const t0 = performance.now();
          const { loss: value, correct: hits } = await trainStep(x, y);
          const ms = performance.now() - t0;
          tf.dispose([x, y]);
          if (Number.isNaN(first)) {
            first = tf.memory().numTensors;
            if (Number.isNaN(cold)) [cold, afterFirstStep] = [ms, first];
          } else if (size === batchSize) {
            samples.push(ms);
            stepMs.push(ms);
          }
          lossSum += value * size;
          correct += hits;
          onProgress?.({ type: 'step', epoch, epochs, step, steps, loss: value });
          await yieldToEventLoop();
          if (!Number.isFinite(value) || value > divergenceLoss) {
            divergedAt = { epoch, step, loss: value };
            break;
          }
        }
        if (divergedAt) break;
        const val = await evaluateOn(path, 'val', data.classes, batchSize);
        valCorrect = val.correct;
        const metrics: EpochMetrics = {
          epoch,
          trainLoss: lossSum / n,
          trainAccuracy: correct / n,
          valLoss: val.loss,
          valAccuracy: val.accuracy,
          seconds: (performance.now() - started) / 1000,
        };
        history.push(metrics);
        onProgress?.({ type: 'epoch', metrics, epochs });
      }
      afterLastStep = tf.memory().numTensors;
      if (!Number.isNaN(first)) leaked += afterLastStep - first;
      engines.push(trainStep.engine ?? { engine: 'eager', reason: 'no step ran' });
    } finally {
      trainStep?.dispose();
      if (config.optimizer instanceof tf.Optimizer) config.optimizer.dispose();
    }
  };

  try {
    for (const [index, stage] of recipe.stages.entries()) {
      if (divergedAt) break;
      const restore = stage.train === 'head' ? freeze(data.backboneLayers ?? []) : () => {};
      try {
        const { path, reason } = await choosePath(stage);
        stagePaths.push({ path: path.kind, reason });
        if (path.kind === 'features') features?.head.pull();
        try {
          await runStage(stage, index, path);
        } finally {
          if (path.kind === 'features') features?.head.push();
        }
        last = path;
      } finally {
        restore();
      }
    }
    const trainInference = divergedAt ? undefined : await evaluateOn(last, 'train', data.classes, batchSize);
    // The test split once, after training; a diverged model has nothing to test.
    const test = divergedAt || !data.test ? undefined : await evaluateOn(last, 'test', data.classes, batchSize);
    const eager = engines.findIndex((e) => e.engine === 'eager');
    const train: Engine = eager === -1 ? { engine: 'graph' } : engines.length > 1 ? { engine: 'eager', reason: `stage ${eager + 1}: ${engines[eager]!.reason}` } : engines[0]!;
    const inference = await last.inference();
    return {
      status: divergedAt ? 'diverged' : 'ok',
      ...(divergedAt ? { divergedAt } : {}),
      history,
      ...(trainInference ? { trainInference: { loss: trainInference.loss, accuracy: trainInference.accuracy } } : {}),
      ...(valCorrect && !divergedAt ? { valCorrect } : {}),
      ...(test ? { test } : {}),
      stepMs: { cold, samples: stepMs, ...(recipe.stages.length > 1 ? { stages: stageMs } : {}) },
      tensors: { afterFirstStep, afterLastStep, leaked },
      engines: {
        train,
        inference: { engine: inference.engine, ...(inference.reason ? { reason: inference.reason } : {}) },
        ...(engines.length > 1 ? { stages: engines } : {}),
      },
      path: trainingPath(stagePaths, featureInfo),
    };
  } finally {
    images.dispose();
    features?.path.dispose();
    features?.head.dispose();
  }
}
