import { tf } from './runtime.js';
import { compileTrainStep, type CompiledTrainStep } from './graph/train-step.js';

/**
 * One training step: forward in training mode, loss, backward, optimizer update; awaits the
 * results. With SGD (with or without momentum) the step runs as one TensorFlow graph
 * (graph/train.ts) where every layer has a training translation, built on the first call;
 * otherwise as eager tfjs ops.
 * `dispose` releases the graph's session.
 */
export interface TrainStep {
  (x: tf.Tensor4D, y: tf.Tensor1D): Promise<{ loss: number; correct: number }>;
  /** How the step ran: one TensorFlow graph, or eager ops and why; undefined before the first call. */
  readonly engine: { engine: 'graph' | 'eager'; reason?: string } | undefined;
  dispose(): void;
}

type StepFunction = (x: tf.Tensor4D, y: tf.Tensor1D) => Promise<{ loss: number; correct: number }>;

function eagerStep(model: tf.LayersModel, optimizer: tf.Optimizer, classes: number): StepFunction {
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  return async (x, y) => {
    let hits: tf.Scalar | undefined;
    const loss = optimizer.minimize(
      () => {
        const logits = model.apply(x, { training: true }) as tf.Tensor2D;
        hits = tf.keep(tf.equal(tf.argMax(logits, 1), y).sum().asType('float32') as tf.Scalar);
        return tf.losses.softmaxCrossEntropy(tf.oneHot(y, classes), logits) as tf.Scalar;
      },
      true,
      variables,
    ) as tf.Scalar;
    const [lossValue, hitValue] = await Promise.all([loss.data(), (hits as tf.Scalar).data()]);
    tf.dispose([loss, hits as tf.Scalar]);
    return { loss: lossValue[0] as number, correct: hitValue[0] as number };
  };
}

/**
 * The step of the seed recipe, shared by training and benchmarks so both time the same work:
 * sparse categorical cross-entropy on logits, BatchNorm in training mode (its moving statistics
 * update as in Keras), every trainable weight updated. `seed` seeds random layers in the graph
 * step (stochastic depth); tfjs' eager step draws its own.
 */
export function createTrainStep(model: tf.LayersModel, optimizer: tf.Optimizer, classes: number, options: { seed?: number } = {}): TrainStep {
  const eager = eagerStep(model, optimizer, classes);
  let compiled: Promise<CompiledTrainStep> | undefined;
  let ready: CompiledTrainStep | undefined;
  const step = async (x: tf.Tensor4D, y: tf.Tensor1D) => {
    ready ??= await (compiled ??= compileTrainStep(model, optimizer, classes, options));
    return ready.run ? ready.run(x, y) : eager(x, y);
  };
  // A getter, not a copied value: the engine is known once the first call has compiled.
  Object.defineProperty(step, 'engine', {
    get: () => ready && { engine: ready.run ? 'graph' : 'eager', ...(ready.reason ? { reason: ready.reason } : {}) },
  });
  return Object.assign(step, { dispose: () => ready?.dispose() }) as TrainStep;
}

/** SGD at `lr`, with momentum when it is > 0 (Keras' SGD(lr, momentum)). */
export function sgdOptimizer(lr: number, momentum: number): tf.Optimizer {
  return momentum > 0 ? tf.train.momentum(lr, momentum) : tf.train.sgd(lr);
}
