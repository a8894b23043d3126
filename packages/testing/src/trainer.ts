import { accelerationEnabled, setAcceleration, tf } from '@headbench/engine';
import { MemoryRows, storeSplit } from '@headbench/data';
import { type TrainerPlugin, type TrainingRecipe, checkRecipe, fitModel, type TrainData, type TrainOutcome, type TrainProgress } from '@headbench/core';
import { seededRandom } from '@headbench/stats';
import { checkMeta, checkOptions, fail, isUsageError, make, messageOf, runChecks, type Check, type FactoryOf } from './shared.js';

/**
 * The contract a trainer keeps, which these checks hold it to:
 *
 * - `recipe({ lr, epochs, stepsPerEpoch })` returns stages whose epochs add up to `epochs`, each
 *   with an optimiser and a finite learning rate >= 0 at every step; settings that cannot work
 *   are refused with a UsageError.
 * - Training repeats: the same seed gives the same weights.
 * - Training grows no tensors from step to step and leaves none behind.
 * - The step runs as one TensorFlow graph (its optimiser an OptimizerSpec of the engine's
 *   `optimizerTranslators`) and then gives what the eager step gives, or the trainer declares
 *   `eagerTraining` and the run says why it is eager.
 * - Weights the model holds frozen stay where they are, BatchNorm moving statistics included;
 *   a stage that trains the head leaves the backbone alone and the next stage trains it.
 */
export interface TrainerConformanceOptions {
  /** Options to make the trainer with for the training checks (default: none, the defaults). */
  options?: Record<string, unknown>;
  /** The learning rate the checks train at (default 0.01). */
  lr?: number;
  /**
   * Options that make the trainer train the head alone for its first epoch of two and then the
   * whole model (the built-ins' `{ freezeEpochs: 1 }`); without them that check only holds a
   * backbone the model itself freezes.
   */
  freezeOptions?: Record<string, unknown>;
  /** The trainer's optimiser has no graph translation: its step runs eagerly, op by op. */
  eagerTraining?: boolean;
}

interface Resolved {
  trainer: TrainerPlugin;
  subject: string;
  lr: number;
}

function resolve(factory: FactoryOf<TrainerPlugin>, check: string, options: TrainerConformanceOptions = {}): Resolved {
  const meta = checkMeta(factory, 'trainer').meta;
  const subject = `trainer "${meta.name}"`;
  return { trainer: make(factory, subject, check, options.options), subject, lr: options.lr ?? 0.01 };
}

const EPOCHS = 2;
const CLASSES = 3;
const SIZE = 8;

/**
 * A small model with a backbone the checks can freeze: a convolution, BatchNorm (random moving
 * statistics, so that normalising with them differs from normalising with the batch's) and
 * ReLU, then average pooling and Dense. Seeded.
 */
function smallModel(seed: number): { model: tf.LayersModel; backboneLayers: tf.layers.Layer[] } {
  const input = tf.input({ shape: [SIZE, SIZE, 3] });
  // No bias before BatchNorm (as MobileNet has none): its gradient is zero up to rounding, which
  // Adam would blow up into steps of lr in random directions, different in every engine.
  const conv = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed }) });
  const bn = tf.layers.batchNormalization({ momentum: 0.9, movingMeanInitializer: tf.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed: seed + 1 }), movingVarianceInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 2, seed: seed + 2 }) });
  const relu = tf.layers.reLU({ maxValue: 6 });
  const features = relu.apply(bn.apply(conv.apply(input))) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: CLASSES, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 3 }) }).apply(tf.layers.globalAveragePooling2d({}).apply(features)) as tf.SymbolicTensor;
  return { model: tf.model({ inputs: input, outputs: logits }), backboneLayers: [conv, bn, relu] };
}

/** Twelve seeded images in [0, 255], four per class, each class a different tint. */
function smallData(backboneLayers: tf.layers.Layer[]): TrainData {
  const make = (n: number, seed: number) => {
    const labels = Int32Array.from({ length: n }, (_, i) => i % CLASSES);
    const random = seededRandom(seed);
    const rowBytes = SIZE * SIZE * 3;
    const store = new MemoryRows(rowBytes, n);
    for (let i = 0; i < n; i++) {
      const pixels = store.row(i);
      for (let k = 0; k < rowBytes; k++) pixels[k] = Math.floor(random() * 128) + (k % 3 === labels[i] ? 127 : 0);
    }
    return storeSplit(store, Int32Array.from({ length: n }, (_, k) => k), labels, SIZE);
  };
  return {
    train: make(12, 1),
    val: make(6, 2),
    classes: CLASSES,
    preprocess: (x) => tf.tidy(() => x.div(127.5).sub(1) as tf.Tensor4D),
    backboneLayers,
  };
}

type Snapshot = { name: string; values: Float32Array }[];
const snapshot = (weights: readonly tf.LayerVariable[]): Snapshot => weights.map((w) => ({ name: w.originalName, values: w.read().dataSync() as Float32Array }));
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

interface Trained {
  outcome: TrainOutcome;
  weights: Snapshot;
  backbone: Snapshot;
  /** The backbone's weights after each epoch. */
  epochs: Snapshot[];
  startBackbone: Snapshot;
  head: Snapshot;
  startHead: Snapshot;
}

/** Trains the small model with the trainer; `frozen` freezes its backbone as a backbone's option would. */
async function train(r: Resolved, check: string, { seed = 1, frozen = false, trainer = r.trainer } = {}): Promise<Trained> {
  const { model, backboneLayers } = smallModel(seed);
  if (frozen) backboneLayers.forEach((l) => (l.trainable = false));
  const data = smallData(backboneLayers);
  const backboneWeights = backboneLayers.flatMap((l) => l.weights);
  const headWeights = model.weights.filter((w) => !backboneWeights.includes(w));
  const startBackbone = snapshot(backboneWeights);
  const startHead = snapshot(headWeights);
  const epochs: Snapshot[] = [];
  try {
    let outcome: TrainOutcome;
    try {
      outcome = await fitModel(model, data, trainer, {
        lr: r.lr,
        epochs: EPOCHS,
        batchSize: 4,
        seed,
        divergenceLoss: 1e6,
        onProgress: (e: TrainProgress) => void (e.type === 'epoch' && epochs.push(snapshot(backboneWeights))),
      });
    } catch (error) {
      fail(r.subject, check, `training a small model for ${EPOCHS} epochs at lr ${r.lr} threw: ${messageOf(error)}`);
    }
    if (outcome.status !== 'ok') fail(r.subject, check, `training a small model at lr ${r.lr} diverged (${JSON.stringify(outcome.divergedAt)}); the checks need a trainer that trains it`);
    return { outcome, weights: snapshot(model.weights), backbone: snapshot(backboneWeights), epochs, startBackbone, head: snapshot(headWeights), startHead };
  } finally {
    model.dispose();
  }
}

/** recipe: stages that add up to the epochs, each with a finite learning rate >= 0 at every step. */
export async function checkTrainerRecipe(factory: FactoryOf<TrainerPlugin>, options?: TrainerConformanceOptions): Promise<void> {
  const check = 'recipe';
  const r = resolve(factory, check, options);
  for (const [epochs, stepsPerEpoch] of [[1, 1], [3, 7], [10, 19]] as const) {
    const context = { lr: r.lr, epochs, stepsPerEpoch };
    let recipe: TrainingRecipe;
    try {
      recipe = r.trainer.recipe(context);
    } catch (error) {
      if (isUsageError(error) && epochs === 1) continue; // a recipe may need more than one epoch, if it says so
      fail(r.subject, check, `recipe(${JSON.stringify(context)}) threw: ${messageOf(error)}`);
    }
    try {
      checkRecipe(r.trainer, recipe, epochs);
    } catch (error) {
      fail(r.subject, check, `recipe(${JSON.stringify(context)}): ${messageOf(error)}`);
    }
    recipe.stages.forEach((stage, i) => {
      for (let step = 0; step < stage.epochs * stepsPerEpoch; step++) {
        const lr = stage.learningRate(step);
        if (!(Number.isFinite(lr) && lr >= 0)) fail(r.subject, check, `recipe(${JSON.stringify(context)}): stage ${i + 1} has learning rate ${lr} at step ${step}; expected a number >= 0 at every step`);
      }
    });
  }
}

/** seeded: two runs with one seed give the same weights. */
export async function checkTrainerSeeded(factory: FactoryOf<TrainerPlugin>, options?: TrainerConformanceOptions): Promise<void> {
  const check = 'seeded';
  const r = resolve(factory, check, options);
  const [a, b] = [await train(r, check), await train(r, check)];
  a.weights.forEach((w, i) => {
    const diff = maxDiff(w.values, b.weights[i]!.values);
    if (diff !== 0) fail(r.subject, check, `two runs with seed 1 ended with weight ${w.name} ${diff} apart; every random choice (augmentation, initial state) must come from the run's seed`);
  });
}

/** no tensor leak: no growth from step to step, nothing left after training. */
export async function checkTrainerNoLeak(factory: FactoryOf<TrainerPlugin>, options?: TrainerConformanceOptions): Promise<void> {
  const check = 'no tensor leak';
  const r = resolve(factory, check, options);
  const before = tf.memory().numTensors;
  const { outcome } = await train(r, check);
  if (outcome.tensors.leaked !== 0) fail(r.subject, check, `tf.memory().numTensors grew by ${outcome.tensors.leaked} from the first training step to the last; the optimiser keeps or creates tensors outside tf.tidy`);
  const left = tf.memory().numTensors - before;
  if (left !== 0) fail(r.subject, check, `training left ${left} tensors behind after the model was disposed; the optimiser's state must be released when training ends`);
}

/** training graph: the step runs as one TensorFlow graph and trains as the eager step does; or the trainer declares eagerTraining. */
export async function checkTrainerGraph(factory: FactoryOf<TrainerPlugin>, options?: TrainerConformanceOptions): Promise<void> {
  const check = 'training graph';
  const r = resolve(factory, check, options);
  const was = accelerationEnabled();
  try {
    setAcceleration(true);
    const graph = await train(r, check);
    const engine = graph.outcome.engines.train;
    if (engine.engine !== 'graph') {
      if (options?.eagerTraining) {
        if (!engine.reason) fail(r.subject, check, 'the step runs eagerly without saying why (engines.train.reason)');
        return;
      }
      fail(r.subject, check, `the training step runs eagerly, op by op: ${engine.reason}; give the stages an OptimizerSpec of the engine's optimizerTranslators (add a translator for your optimiser), or pass { eagerTraining: true } to the kit to accept the slower path`);
    }
    setAcceleration(false);
    const eager = await train(r, check);
    if (eager.outcome.engines.train.engine !== 'eager') fail(r.subject, check, 'with acceleration off the step still ran as a graph');
    graph.weights.forEach((w, i) => {
      const diff = maxDiff(w.values, eager.weights[i]!.values);
      if (!(diff <= 1e-4)) fail(r.subject, check, `after ${EPOCHS} epochs, weight ${w.name} of the graph step differs from the eager step's by ${diff}; the optimiser's translation does not compute what its eager form does`);
    });
  } finally {
    setAcceleration(was);
  }
}

/**
 * frozen backbone: a backbone the model freezes keeps its weights and moving statistics; with
 * `freezeOptions`, the frozen first stage keeps the backbone and the head moves, then the
 * second stage trains the backbone.
 */
export async function checkTrainerFrozenBackbone(factory: FactoryOf<TrainerPlugin>, options?: TrainerConformanceOptions): Promise<void> {
  const check = 'frozen backbone';
  const r = resolve(factory, check, options);
  const unchanged = (t: Trained, what: string, after: Snapshot) =>
    after.forEach((w, i) => {
      const diff = maxDiff(w.values, t.startBackbone[i]!.values);
      if (diff !== 0) fail(r.subject, check, `${what}, backbone weight ${w.name} moved by ${diff}; frozen weights and BatchNorm moving statistics must stay as they are (a frozen BatchNorm normalises with its moving statistics)`);
    });
  const moved = (from: Snapshot, to: Snapshot) => Math.max(...to.map((w, i) => maxDiff(w.values, from[i]!.values)));
  const frozen = await train(r, check, { frozen: true });
  unchanged(frozen, 'with the backbone frozen by the model', frozen.backbone);
  if (!(moved(frozen.startHead, frozen.head) > 0)) fail(r.subject, check, 'with the backbone frozen by the model, the head did not train either');
  if (!options?.freezeOptions) return;
  const staged = make(factory, r.subject, check, { ...options.options, ...options.freezeOptions });
  const two = await train(r, check, { trainer: staged });
  const first = two.epochs[0];
  if (!first) fail(r.subject, check, `with ${JSON.stringify(options.freezeOptions)}, no epoch finished`);
  unchanged(two, `with ${JSON.stringify(options.freezeOptions)}, after the first (frozen) epoch`, first);
  if (!(moved(two.startBackbone, two.backbone) > 0)) fail(r.subject, check, `with ${JSON.stringify(options.freezeOptions)}, the backbone never trained: after the frozen stage it must be unfrozen`);
}

export const TRAINER_CHECKS: readonly Check<TrainerPlugin, TrainerConformanceOptions>[] = [
  { id: 'meta', title: 'has well-formed meta (name, semver version, kind trainer)', run: async (f) => void checkMeta(f, 'trainer') },
  { id: 'options', title: 'validates its options (defaults, unknown keys, wrong types)', run: async (f) => checkOptions(f, 'trainer') },
  { id: 'recipe', title: 'gives stages that add up to the epochs, with a learning rate at every step', run: checkTrainerRecipe },
  { id: 'seeded', title: 'trains the same weights from the same seed', run: checkTrainerSeeded },
  { id: 'no-leak', title: 'trains without leaking tensors', run: checkTrainerNoLeak },
  { id: 'training-graph', title: 'trains as one TensorFlow graph with the weights of the eager step', run: checkTrainerGraph },
  { id: 'frozen-backbone', title: 'leaves a frozen backbone and its moving statistics alone', run: checkTrainerFrozenBackbone },
];

/** Runs every trainer check and throws one ConformanceError listing each failure. */
export function checkTrainerConformance(factory: FactoryOf<TrainerPlugin>, options?: TrainerConformanceOptions): Promise<void> {
  return runChecks(TRAINER_CHECKS, factory, options);
}
