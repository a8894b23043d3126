import { performance } from 'node:perf_hooks';
import { Bench } from 'tinybench';
import { compileInference, createTrainStep, sgdConfig, tf } from '@headbench/engine';
import type { ModelBench, TaskTiming } from '@headbench/results';
import { median } from '@headbench/stats';
import type { FeatureShape, TrainerPlugin } from './plugin.js';
import { checkRecipe, freeze, stageStepConfig } from './trainer.js';

export interface TimingOptions {
  /** The fewest timed calls (default 10). */
  minSamples?: number;
  /** Keep timing until this much time has passed, if `minSamples` finish sooner (default 2000 ms). */
  minTimeMs?: number;
  /** Warm-up stops when the last three calls are within this fraction of their median (default 0.1) */
  steadyWithin?: number;
  /** or after this many calls (default 15). */
  maxWarmup?: number;
}

/**
 * Times an asynchronous call with tinybench after warming it up until steady. The call must
 * await its results (`await t.data()`), so no asynchronous work escapes the timing window.
 */
export async function timeTask(name: string, fn: () => Promise<void>, options: TimingOptions = {}): Promise<TaskTiming> {
  const { minSamples = 10, minTimeMs = 2000, steadyWithin = 0.1, maxWarmup = 15 } = options;
  const t0 = performance.now();
  await fn();
  const coldMs = performance.now() - t0;
  const recent: number[] = [];
  let warmupCalls = 0;
  while (warmupCalls < maxWarmup) {
    const s = performance.now();
    await fn();
    recent.push(performance.now() - s);
    warmupCalls += 1;
    if (recent.length >= 3) {
      const last = recent.slice(-3);
      const m = median(last);
      if (last.every((v) => Math.abs(v - m) <= steadyWithin * m)) break;
    }
  }
  const before = tf.memory().numTensors;
  const bench = new Bench({ iterations: minSamples, time: minTimeMs, warmup: false, throws: true });
  bench.add(name, fn);
  await bench.run();
  const after = tf.memory().numTensors;
  const result = bench.tasks[0]?.result;
  if (!result || !('latency' in result)) throw new Error(`tinybench did not complete task ${name} (state ${result?.state})`);
  const { latency, throughput } = result;
  return {
    name,
    samples: latency.samplesCount,
    latency: { p50: latency.p50, p99: latency.p99, mean: latency.mean, rme: latency.rme, min: latency.min, max: latency.max },
    throughput: throughput.mean,
    coldMs,
    warmupCalls,
    tensors: { before, after, leakedPerCall: (after - before) / latency.samplesCount },
  };
}

export interface ModelBenchOptions extends TimingOptions {
  inputSize: number;
  classes: number;
  batchSize: number;
  lr: number;
  seed: number;
  /**
   * Whose step to time: the trainer's recipe at `lr` for `epochs` of `stepsPerEpoch`, its last
   * stage that trains the whole model (else its first, with the backbone frozen). Default:
   * plain SGD at `lr`.
   */
  trainer?: { plugin: TrainerPlugin; epochs: number; stepsPerEpoch: number; backboneLayers?: readonly tf.layers.Layer[] };
  /**
   * The head alone on a feature-shaped input (features.ts' `headOnly`): its training step is
   * timed too, on random features, so a head's own cost is not hidden under the backbone's.
   */
  head?: { model: tf.LayersModel; featureShape: FeatureShape };
  /** Called before each timing, for progress displays. */
  onTask?: (name: 'train step' | 'inference' | 'inference batch 1' | 'head train step') => void;
}

/**
 * Times the training step (forward, backward, the optimiser's update), inference at the batch
 * size and at batch 1 on seeded random input of the model's shape. The model's weights change
 * (it trains).
 */
export async function benchModel(model: tf.LayersModel, options: ModelBenchOptions): Promise<ModelBench> {
  const { inputSize, classes, batchSize, lr, seed, trainer } = options;
  let stepConfig = sgdConfig(lr);
  let restore = () => {};
  let stage: ModelBench['stage'];
  if (trainer) {
    const recipe = checkRecipe(trainer.plugin, trainer.plugin.recipe({ lr, epochs: trainer.epochs, stepsPerEpoch: trainer.stepsPerEpoch }), trainer.epochs, (trainer.backboneLayers?.length ?? 0) > 0);
    const all = recipe.stages.map((s) => s.train).lastIndexOf('all');
    const index = all === -1 ? 0 : all;
    const chosen = recipe.stages[index]!;
    stepConfig = stageStepConfig(recipe, chosen, index, seed);
    if (chosen.train === 'head') restore = freeze(trainer.backboneLayers ?? []);
    if (recipe.stages.length > 1) stage = { index: index + 1, of: recipe.stages.length, train: chosen.train };
  }
  // First, so that a failure to compile leaves nothing else to release.
  const inference = await compileInference(model);
  const x = tf.randomUniform([batchSize, inputSize, inputSize, 3], -1, 1, 'float32', seed) as tf.Tensor4D;
  const x1 = x.slice([0, 0, 0, 0], [1, inputSize, inputSize, 3]);
  const y = tf.tensor1d(Int32Array.from({ length: batchSize }, (_, i) => i % classes), 'int32');
  const step = createTrainStep(model, stepConfig, classes);
  const predict = (input: tf.Tensor4D) => async () => {
    const out = inference.predict(input);
    await out.data();
    out.dispose();
  };
  try {
    options.onTask?.('train step');
    const train = await timeTask('train step', async () => void (await step(x, y)), options);
    options.onTask?.('inference');
    const inferenceTiming = await timeTask('inference', predict(x), options);
    options.onTask?.('inference batch 1');
    const inferenceSingle = await timeTask('inference batch 1', predict(x1), options);
    let headTrain: ModelBench['headTrain'];
    if (options.head) {
      options.onTask?.('head train step');
      const features = tf.randomUniform([batchSize, ...options.head.featureShape], 0, 6, 'float32', seed) as tf.Tensor4D;
      // The same update rule on the head's own weights (a tfjs optimizer keeps per-model state: plain SGD instead).
      const headStep = createTrainStep(options.head.model, stepConfig.optimizer instanceof tf.Optimizer ? sgdConfig(lr) : stepConfig, classes);
      try {
        headTrain = await timeTask('head train step', async () => void (await headStep(features, y)), options);
      } finally {
        headStep.dispose();
        features.dispose();
      }
    }
    return {
      ...(headTrain ? { headTrain } : {}),
      train,
      inference: inferenceTiming,
      inferenceSingle,
      imagesPerSecond: { train: (batchSize * 1000) / train.latency.p50, inference: (batchSize * 1000) / inferenceTiming.latency.p50 },
      inferenceEngine: { engine: inference.engine, ...(inference.reason ? { reason: inference.reason } : {}) },
      trainEngine: step.engine ?? { engine: 'eager', reason: 'no step ran' },
      ...(stage ? { stage } : {}),
      peakRssMB: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    restore();
    step.dispose();
    if (stepConfig.optimizer instanceof tf.Optimizer) stepConfig.optimizer.dispose();
    inference.dispose();
    tf.dispose([x, x1, y]);
  }
}
