import { accelerationEnabled } from '../accelerate.js';
import { tf } from '../runtime.js';
import { loadGraph } from './session.js';
import { buildTrainGraph, type TrainGraphOptions } from './train.js';
import { seedKey, UnsupportedLayerError } from './translate.js';

/** What one run of a compiled step is told besides the batch. */
export interface StepFeed {
  /** The learning rate of this step. */
  lr: number;
  /** How many updates came before this one (Keras' `optimizer.iterations`). */
  iteration: number;
  /** The step's seed, from which its random streams are keyed. */
  seed: number;
}

/** A training step compiled into a graph (`run`), or the reason it runs eagerly. */
export interface CompiledTrainStep {
  run?: (x: tf.Tensor4D, y: tf.Tensor1D, feed: StepFeed) => Promise<{ loss: number; correct: number }>;
  reason?: string;
  dispose(): void;
}

const eager = (reason: string): CompiledTrainStep => ({ reason, dispose: () => {} });

/** The fed seeds of a graph for one step: `seed<i>` is `[seedKey(seed, names[i]), iteration]`. */
export function seedFeeds(names: readonly string[], seed: number, iteration: number): tf.NamedTensorMap {
  return Object.fromEntries(names.map((name, i) => [`seed${i}`, tf.tensor1d([seedKey(seed, name), iteration], 'int32')]));
}

/**
 * Builds the step of `model` as one TensorFlow graph and loads it: each run feeds the batch, the
 * learning rate, the step count, the seeds, every weight and the optimiser's slots, and assigns
 * the new weights, moving statistics and slots back. Layers without a training translation and
 * HEADBENCH_ACCELERATE=0 give the reason to run eagerly instead.
 */
export async function compileTrainStep(model: tf.LayersModel, classes: number, options: TrainGraphOptions): Promise<CompiledTrainStep> {
  if (!accelerationEnabled()) return eager('acceleration is off (HEADBENCH_ACCELERATE=0)');
  let graph;
  try {
    graph = buildTrainGraph(model, classes, options);
  } catch (error) {
    if (error instanceof UnsupportedLayerError) return eager(error.message);
    throw error;
  }
  let session;
  try {
    session = await loadGraph(graph.nodes, graph.signature);
  } catch (error) {
    return eager(`TensorFlow did not load the training graph: ${(error as Error).message.split('\n')[0]}`);
  }
  const { feeds, updates, slots, fedStep, seeds } = graph;
  const targets = updates.map((v) => v.read() as tf.Variable);
  // The optimiser's state lives here, as Keras' optimizer variables do: zeros at first.
  const state = slots.map(({ variable }) => tf.tidy(() => tf.variable(tf.zeros(variable.shape as number[]), false)));
  let disposed = false;
  return {
    async run(x, y, { lr, iteration, seed }) {
      if (disposed) throw new Error(`the training graph of ${model.name} was disposed`);
      const scalars = [tf.scalar(lr), ...(fedStep ? [tf.scalar(iteration + 1)] : [])];
      const seedTensors = seedFeeds(seeds, seed, iteration);
      const inputs: tf.NamedTensorMap = { input: x, labels: y, lr: scalars[0]!, ...(fedStep ? { step: scalars[1]! } : {}), ...seedTensors };
      feeds.forEach((variable, i) => (inputs[`w${i}`] = variable.read()));
      state.forEach((s, k) => (inputs[`s${k}`] = s));
      const out = session.predict(inputs) as tf.NamedTensorMap;
      tf.dispose([...scalars, ...Object.values(seedTensors)]);
      const assign = (variable: tf.Variable, value: tf.Tensor) => {
        variable.assign(value);
        value.dispose();
      };
      targets.forEach((variable, i) => assign(variable, out[`u${i}`] as tf.Tensor));
      state.forEach((s, k) => assign(s, out[`n${k}`] as tf.Tensor));
      const [loss, correct] = [out['loss'] as tf.Tensor, out['correct'] as tf.Tensor];
      const [l, c] = await Promise.all([loss.data(), correct.data()]);
      tf.dispose([loss, correct]);
      return { loss: l[0] as number, correct: c[0] as number };
    },
    dispose() {
      if (!disposed) {
        session.dispose();
        tf.dispose(state);
      }
      disposed = true;
    },
  };
}
