import { eagerOps } from './eager-ops.js';
import { augments, buildAugmentGraph, type AugmentOptions } from './graph/augment.js';
import { loadGraph, type GraphSession } from './graph/session.js';
import { compileTrainStep, seedFeeds, type CompiledTrainStep, type StepFeed } from './graph/train-step.js';
import { applyOptimizer, resolveOptimizer, type OptimizerSpec, type ResolvedOptimizer } from './optimizers.js';
import { tf } from './runtime.js';

/**
 * What a training step optimises with. An OptimizerSpec names a rule of `optimizerTranslators`
 * (sgd, adam, rmsprop, or one you add): it runs in the training graph where every layer has a
 * training translation, else eagerly with the same arithmetic. A tfjs `tf.Optimizer` always
 * runs eagerly, at its own learning rate.
 */
export interface TrainStepConfig {
  optimizer: OptimizerSpec | tf.Optimizer;
  /**
   * With an OptimizerSpec: the learning rate, or a function of the step's `iteration` (the count
   * of earlier updates, Keras' `optimizer.iterations`) as Keras' schedules are. Fed at each step.
   */
  learningRate?: number | ((iteration: number) => number);
  /** Keras' `CategoricalCrossentropy(label_smoothing)` on the one-hot labels (default 0). */
  labelSmoothing?: number;
  /** Random flips and zooms of each batch (graph ops, in both engines). */
  augment?: AugmentOptions;
  /** Seeds the random streams: step i draws from `[seedKey(seed, stream), i]` (default 0). */
  seed?: number;
}

/**
 * One training step: forward in training mode, loss, backward, optimizer update; awaits the
 * results. Runs as one TensorFlow graph (graph/train.ts) where the optimiser is an
 * OptimizerSpec and every layer has a training translation, built on the first call; otherwise
 * as eager tfjs ops. `dispose` releases the graph's session and the optimiser's state.
 */
export interface TrainStep {
  (x: tf.Tensor4D, y: tf.Tensor1D): Promise<{ loss: number; correct: number }>;
  /** How the step ran: one TensorFlow graph, or eager ops and why; undefined before the first call. */
  readonly engine: { engine: 'graph' | 'eager'; reason?: string } | undefined;
  /** Updates made so far. */
  readonly iterations: number;
  dispose(): void;
}

type StepFunction = (x: tf.Tensor4D, y: tf.Tensor1D, feed: StepFeed) => Promise<{ loss: number; correct: number }>;

const isOptimizerSpec = (o: OptimizerSpec | tf.Optimizer): o is OptimizerSpec => !(o instanceof tf.Optimizer) && typeof (o as OptimizerSpec).name === 'string';

const patchedBatchNorms = new WeakSet<tf.layers.Layer>();

/**
 * Keras' rule for a frozen BatchNormalization, which the training graph follows: with
 * `trainable = false` it normalises with its moving statistics, also while training, and leaves
 * them alone. tfjs-layers would use the batch's and move them, so the eager step applies the
 * rule to every BatchNormalization layer of the model (once per layer; a layer that already
 * follows it, such as @headbench/backbones', is unaffected).
 */
function frozenBatchNormRule(model: tf.LayersModel): void {
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization' || patchedBatchNorms.has(layer)) continue;
    const call = layer.call.bind(layer);
    layer.call = (inputs, kwargs) => call(inputs, layer.trainable ? kwargs : { ...kwargs, training: false });
    patchedBatchNorms.add(layer);
  }
}

/** The augmentation graph for the eager step, loaded on first use. */
function eagerAugment(shape: readonly (number | null)[], options: AugmentOptions) {
  const graph = buildAugmentGraph(shape, options);
  let session: Promise<GraphSession> | undefined;
  return {
    async apply(x: tf.Tensor4D, feed: StepFeed): Promise<tf.Tensor4D> {
      const loaded = await (session ??= loadGraph(graph.nodes, graph.signature));
      const seeds = seedFeeds(graph.seeds, feed.seed, feed.iteration);
      const out = loaded.predict({ input: x, ...seeds }) as tf.NamedTensorMap;
      tf.dispose(Object.values(seeds));
      return out['augmented'] as tf.Tensor4D;
    },
    dispose: () => void session?.then((s) => s.dispose()),
  };
}

/** The loss of a batch as the graph computes it: mean softmax cross-entropy, smoothed or not. */
function lossOf(logits: tf.Tensor2D, y: tf.Tensor1D, classes: number, labelSmoothing: number): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(tf.oneHot(y, classes), logits, undefined, labelSmoothing) as tf.Scalar;
}

/**
 * The eager step: tfjs computes the gradients, then either the OptimizerSpec's rule runs on them
 * with eager ops (the same arithmetic as the graph) or the tfjs optimizer applies them.
 */
function eagerStep(model: tf.LayersModel, config: TrainStepConfig, classes: number, rule: ResolvedOptimizer | undefined): { run: StepFunction; dispose(): void } {
  frozenBatchNormRule(model);
  const weights = model.trainableWeights;
  const variables = weights.map((w) => w.read() as tf.Variable);
  const slotNames = rule ? rule.translator.slots(rule.options) : [];
  const state = variables.map((v) => slotNames.map(() => tf.tidy(() => tf.variable(tf.zerosLike(v), false))));
  const labelSmoothing = config.labelSmoothing ?? 0;
  const augment = augments(config.augment) ? eagerAugment(model.inputs[0]!.shape, config.augment ?? {}) : undefined;
  const tfOptimizer = rule ? undefined : (config.optimizer as tf.Optimizer);
  const run: StepFunction = async (x, y, feed) => {
    const images = augment ? await augment.apply(x, feed) : x;
    let hits: tf.Scalar | undefined;
    const { value: loss, grads } = tf.variableGrads(() => {
      const logits = model.apply(images, { training: true }) as tf.Tensor2D;
      hits = tf.keep(tf.equal(tf.argMax(logits, 1), y).sum().asType('float32') as tf.Scalar);
      return lossOf(logits, y, classes, labelSmoothing);
    }, variables);
    if (images !== x) images.dispose();
    tf.tidy(() => {
      if (!rule) {
        (tfOptimizer as tf.Optimizer).applyGradients(grads);
        return;
      }
      const lr = tf.scalar(feed.lr);
      const step = tf.scalar(feed.iteration + 1);
      const shared = rule.translator.prepare?.(eagerOps, lr, step, rule.options) ?? {};
      variables.forEach((variable, i) => {
        const next = applyOptimizer(eagerOps, rule, { weight: variable, grad: grads[variable.name]!, slots: state[i]!, lr, shared });
        variable.assign(next.weight);
        next.slots.forEach((s, k) => state[i]![k]!.assign(s));
      });
    });
    tf.dispose(Object.values(grads));
    const [lossValue, hitValue] = await Promise.all([loss.data(), (hits as tf.Scalar).data()]);
    tf.dispose([loss, hits as tf.Scalar]);
    return { loss: lossValue[0] as number, correct: hitValue[0] as number };
  };
  return { run, dispose: () => (tf.dispose(state.flat()), augment?.dispose()) };
}

/**
 * The training step shared by training and benchmarks, so both time the same work: softmax
 * cross-entropy on logits (sparse, or on smoothed one-hot labels), BatchNorm in training mode
 * (its moving statistics update as in Keras; a frozen one uses them), every trainable weight
 * updated by the optimiser.
 */
export function createTrainStep(model: tf.LayersModel, config: TrainStepConfig, classes: number): TrainStep {
  const spec = isOptimizerSpec(config.optimizer) ? config.optimizer : undefined;
  const rule = spec && resolveOptimizer(spec);
  const learningRate = config.learningRate;
  if (rule && learningRate === undefined) throw new Error(`createTrainStep: optimizer ${rule.name} needs a learningRate`);
  const lrAt = typeof learningRate === 'function' ? learningRate : () => learningRate ?? Number.NaN;
  let compiled: Promise<CompiledTrainStep> | undefined;
  let ready: CompiledTrainStep | undefined;
  let fallback: { run: StepFunction; dispose(): void } | undefined;
  let iterations = 0;
  const step = async (x: tf.Tensor4D, y: tf.Tensor1D) => {
    ready ??= await (compiled ??= rule
      ? compileTrainStep(model, classes, { optimizer: spec!, labelSmoothing: config.labelSmoothing ?? 0, ...(config.augment ? { augment: config.augment } : {}) })
      : Promise.resolve({ reason: `the trainer's optimizer is tfjs' ${(config.optimizer as tf.Optimizer).getClassName()}, which has no graph translation (give an OptimizerSpec of optimizerTranslators instead)`, dispose: () => {} }));
    const feed: StepFeed = { lr: lrAt(iterations), iteration: iterations, seed: config.seed ?? 0 };
    if (rule && !(feed.lr >= 0)) throw new Error(`createTrainStep: learning rate at step ${iterations} is ${feed.lr}; it must be a number >= 0`);
    const result = ready.run ? await ready.run(x, y, feed) : await (fallback ??= eagerStep(model, config, classes, rule)).run(x, y, feed);
    iterations += 1;
    return result;
  };
  // Getters, not copied values: the engine is known once the first call has compiled.
  Object.defineProperty(step, 'engine', {
    get: () => ready && { engine: ready.run ? 'graph' : 'eager', ...(ready.reason ? { reason: ready.reason } : {}) },
  });
  Object.defineProperty(step, 'iterations', { get: () => iterations });
  return Object.assign(step, {
    dispose: () => {
      ready?.dispose();
      fallback?.dispose();
    },
  }) as TrainStep;
}

/** Plain SGD (Keras' SGD(lr), with momentum when it is > 0), the seed experiment's optimiser. */
export function sgdConfig(lr: number, momentum = 0): TrainStepConfig {
  return { optimizer: { name: 'sgd', options: { momentum } }, learningRate: lr };
}
