import { performance } from 'node:perf_hooks';
import { compileInference, createTrainStep, tf, type InferenceModel, type TrainStep, type TrainStepConfig } from '@headbench/engine';
import { batches, batchTensors, type ImageBatch, type ImageSplit } from '@headbench/data';
import { UsageError } from '@headbench/errors';
import type { Engine, Engines, EpochMetrics } from '@headbench/results';
import { deriveSeed, seededRandom, shuffledIndices } from '@headbench/stats';
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
    return await evaluateWith(inference, data, split, batchSize);
  } finally {
    if (inference !== model) inference.dispose();
  }
}

async function evaluateWith(inference: InferenceModel, data: TrainData, split: ImageSplit, batchSize: number): Promise<Evaluation> {
  const n = split.labels.length;
  let lossSum = 0;
  let correct = 0;
  const perImage = new Uint8Array(n);
  let start = 0;
  for await (const batch of batches(split, Int32Array.from({ length: n }, (_, i) => i), batchSize)) {
    const { x, y } = batchOf(data, split, batch);
    const [l, c] = tf.tidy(() => {
      const logits = inference.predict(x) as tf.Tensor2D;
      const perExample = tf.losses.softmaxCrossEntropy(tf.oneHot(y, data.classes), logits, undefined, 0, tf.Reduction.NONE);
      return [perExample.sum(), tf.equal(tf.argMax(logits, 1), y).asType('int32')];
    });
    lossSum += (await (l as tf.Tensor).data())[0] as number;
    const hits = (await (c as tf.Tensor).data()) as Int32Array;
    for (let i = 0; i < hits.length; i++) {
      perImage[start + i] = hits[i] as number;
      correct += hits[i] as number;
    }
    tf.dispose([x, y, l as tf.Tensor, c as tf.Tensor]);
    start += batch.indices.length;
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
 */
export async function fitModel(model: tf.LayersModel, data: TrainData, trainer: TrainerPlugin, options: TrainOptions): Promise<TrainOutcome> {
  const { lr, epochs, batchSize, seed, divergenceLoss, onProgress } = options;
  if (!(lr > 0)) throw new UsageError(`learning rate must be > 0, got ${lr}`);
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new UsageError(`batch size must be a positive integer, got ${batchSize}`);
  if (!(Number.isInteger(epochs) && epochs >= 1)) throw new UsageError(`epochs must be a positive integer, got ${epochs}`);
  const n = data.train.count;
  const steps = Math.ceil(n / batchSize);
  const recipe = checkRecipe(trainer, trainer.recipe({ lr, epochs, stepsPerEpoch: steps }), epochs, (data.backboneLayers?.length ?? 0) > 0);
  const inference = await compileInference(model);
  const history: EpochMetrics[] = [];
  const stepMs: number[] = [];
  const stageMs: number[][] = [];
  const engines: Engines['stages'] = [];
  let cold = Number.NaN;
  let afterFirstStep = Number.NaN;
  let afterLastStep = 0;
  let leaked = 0;
  let divergedAt: TrainOutcome['divergedAt'];
  let valCorrect: Uint8Array | undefined;
  let epoch = 0;

  const runStage = async (stage: TrainingStage, index: number) => {
    const config = stageStepConfig(recipe, stage, index, seed);
    let trainStep: TrainStep | undefined;
    const samples: number[] = [];
    stageMs.push(samples);
    try {
      trainStep = createTrainStep(model, config, data.classes);
      let first = Number.NaN;
      for (let e = 1; e <= stage.epochs && !divergedAt; e++) {
        epoch += 1;
        const started = performance.now();
        const order = shuffledIndices(n, seededRandom(deriveSeed(seed, `epoch ${epoch}`)));
        let lossSum = 0;
        let correct = 0;
        let step = 0;
        // batches() reads batch k+1 while step k runs.
        for await (const batch of batches(data.train, order, batchSize)) {
          step += 1;
          const indices = batch.indices;
          const { x, y } = batchOf(data, data.train, batch);
          const t0 = performance.now();
          const { loss: value, correct: hits } = await trainStep(x, y);
          const ms = performance.now() - t0;
          tf.dispose([x, y]);
          if (Number.isNaN(first)) {
            first = tf.memory().numTensors;
            if (Number.isNaN(cold)) [cold, afterFirstStep] = [ms, first];
          } else if (indices.length === batchSize) {
            samples.push(ms);
            stepMs.push(ms);
          }
          lossSum += value * indices.length;
          correct += hits;
          onProgress?.({ type: 'step', epoch, epochs, step, steps, loss: value });
          await yieldToEventLoop();
          if (!Number.isFinite(value) || value > divergenceLoss) {
            divergedAt = { epoch, step, loss: value };
            break;
          }
        }
        if (divergedAt) break;
        const val = await evaluate(inference, data, data.val, batchSize);
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
        await runStage(stage, index);
      } finally {
        restore();
      }
    }
    const trainInference = divergedAt ? undefined : await evaluate(inference, data, data.train, batchSize);
    // The test split once, after training; a diverged model has nothing to test.
    const test = divergedAt || !data.test ? undefined : await evaluate(inference, data, data.test, batchSize);
    const eager = engines.findIndex((e) => e.engine === 'eager');
    const train: Engine = eager === -1 ? { engine: 'graph' } : engines.length > 1 ? { engine: 'eager', reason: `stage ${eager + 1}: ${engines[eager]!.reason}` } : engines[0]!;
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
    };
  } finally {
    inference.dispose();
  }
}
