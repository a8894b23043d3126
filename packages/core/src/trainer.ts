import { performance } from 'node:perf_hooks';
import { compileInference, createTrainStep, sgdOptimizer, tf, type InferenceModel } from '@headbench/engine';
import { UsageError } from './errors.js';
import { deriveSeed, seededRandom, shuffledIndices } from './random.js';
import { batches, batchTensors, type ImageBatch } from './data/batches.js';
import type { ImageSplit } from './data/dataset.js';

export interface EpochMetrics {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss: number;
  valAccuracy: number;
  seconds: number;
}

export type TrainProgress =
  | { type: 'step'; epoch: number; epochs: number; step: number; steps: number; loss: number }
  | { type: 'epoch'; metrics: EpochMetrics; epochs: number };

export interface TrainOptions {
  lr: number;
  /** SGD momentum; 0 is plain SGD, as in the seed experiment. */
  momentum: number;
  epochs: number;
  batchSize: number;
  /** Seeds the order of training images in every epoch. */
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
  /** Wall time of the first step (graph set-up, kernel selection) and of every later full batch. */
  stepMs: { cold: number; samples: number[] };
  /** `tf.memory().numTensors` after the first step and after the last: a growth is a leak. */
  tensors: { afterFirstStep: number; afterLastStep: number };
  /** How training and evaluation ran: one TensorFlow graph each, or eager ops and why. */
  engines: Engines;
}

export interface Engines {
  train: { engine: 'graph' | 'eager'; reason?: string };
  inference: { engine: 'graph' | 'eager'; reason?: string };
}

/** Trains and evaluates a composed model. */
export interface Trainer {
  name: string;
  fit(model: tf.LayersModel, data: TrainData, options: TrainOptions): Promise<TrainOutcome>;
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
 * The seed experiment's recipe: SGD (optionally with momentum) on sparse categorical
 * cross-entropy from logits, the whole model trained unless the backbone froze its layers,
 * BatchNorm in training mode during fit and in inference mode for evaluation, as in Keras.
 */
export function sgdTrainer(): Trainer {
  return {
    name: 'sgd',
    async fit(model, data, options) {
      const { lr, momentum, epochs, batchSize, seed, divergenceLoss, onProgress } = options;
      if (!(lr > 0)) throw new UsageError(`learning rate must be > 0, got ${lr}`);
      if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new UsageError(`batch size must be a positive integer, got ${batchSize}`);
      if (!(Number.isInteger(epochs) && epochs >= 1)) throw new UsageError(`epochs must be a positive integer, got ${epochs}`);
      const optimizer = sgdOptimizer(lr, momentum);
      const trainStep = createTrainStep(model, optimizer, data.classes, { seed: deriveSeed(seed, 'train step') });
      const inference = await compileInference(model);
      const n = data.train.count;
      const steps = Math.ceil(n / batchSize);
      const history: EpochMetrics[] = [];
      const stepMs: number[] = [];
      let cold = Number.NaN;
      let afterFirstStep = 0;
      let divergedAt: TrainOutcome['divergedAt'];
      let valCorrect: Uint8Array | undefined;

      try {
        for (let epoch = 1; epoch <= epochs && !divergedAt; epoch++) {
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
            if (Number.isNaN(cold)) {
              cold = ms;
              afterFirstStep = tf.memory().numTensors;
            } else if (indices.length === batchSize) {
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
        const afterLastStep = tf.memory().numTensors;
        const trainInference = divergedAt ? undefined : await evaluate(inference, data, data.train, batchSize);
        // The test split once, after training; a diverged model has nothing to test.
        const test = divergedAt || !data.test ? undefined : await evaluate(inference, data, data.test, batchSize);
        return {
          status: divergedAt ? 'diverged' : 'ok',
          ...(divergedAt ? { divergedAt } : {}),
          history,
          ...(trainInference ? { trainInference: { loss: trainInference.loss, accuracy: trainInference.accuracy } } : {}),
          ...(valCorrect && !divergedAt ? { valCorrect } : {}),
          ...(test ? { test } : {}),
          stepMs: { cold, samples: stepMs },
          tensors: { afterFirstStep, afterLastStep },
          engines: {
            train: trainStep.engine ?? { engine: 'eager', reason: 'no step ran' },
            inference: { engine: inference.engine, ...(inference.reason ? { reason: inference.reason } : {}) },
          },
        };
      } finally {
        trainStep.dispose();
        optimizer.dispose();
        inference.dispose();
      }
    },
  };
}
