import { accelerationEnabled } from '../accelerate.js';
import { tf } from '../runtime.js';
import { loadGraph } from './session.js';
import { buildTrainGraph } from './train.js';
import { UnsupportedLayerError } from './translate.js';

/** A training step compiled into a graph (`run`), or the reason it runs eagerly. */
export interface CompiledTrainStep {
  run?: (x: tf.Tensor4D, y: tf.Tensor1D) => Promise<{ loss: number; correct: number }>;
  reason?: string;
  dispose(): void;
}

const eager = (reason: string): CompiledTrainStep => ({ reason, dispose: () => {} });

/**
 * Builds the SGD step of `model` (plain or with momentum) as one TensorFlow graph and loads it:
 * each run feeds the batch, the learning rate and every weight, and assigns the new weights,
 * moving statistics and momentum accumulators back; a graph with random layers also gets the seed
 * `[seed, step]`. Other optimisers (Nesterov momentum too),
 * layers without a training translation and HEADBENCH_ACCELERATE=0 run eagerly.
 */
export async function compileTrainStep(model: tf.LayersModel, optimizer: tf.Optimizer, classes: number, { seed = 0 }: { seed?: number } = {}): Promise<CompiledTrainStep> {
  if (!accelerationEnabled()) return eager('acceleration is off (HEADBENCH_ACCELERATE=0)');
  const kind = optimizer.getClassName();
  const settings = optimizer as unknown as { learningRate: number; momentum?: number; useNesterov?: boolean };
  if (kind !== 'SGD' && !(kind === 'Momentum' && !settings.useNesterov)) {
    return eager(`the optimizer is ${kind}${settings.useNesterov ? ' (Nesterov)' : ''}; the training graph does SGD with or without momentum`);
  }
  let graph;
  try {
    graph = buildTrainGraph(model, classes, { momentum: kind === 'Momentum' ? (settings.momentum ?? 0) : 0 });
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
  const { feeds, updates, accumulated, seeded } = graph;
  // Random layers (stochastic depth) draw from [seed, step]: every step differs, every run repeats.
  let step = 0;
  const targets = updates.map((v) => v.read() as tf.Variable);
  // The momentum accumulators live here, as tfjs' MomentumOptimizer keeps its own: zeros at first.
  const accumulators = accumulated.map((v) => tf.variable(tf.zeros(v.shape as number[]), false));
  let disposed = false;
  return {
    async run(x, y) {
      if (disposed) throw new Error(`the training graph of ${model.name} was disposed`);
      const lr = tf.scalar(settings.learningRate);
      const inputs: tf.NamedTensorMap = { input: x, labels: y, lr };
      feeds.forEach((variable, i) => (inputs[`w${i}`] = variable.read()));
      accumulators.forEach((a, i) => (inputs[`a${i}`] = a));
      const stepSeed = seeded ? tf.tensor1d([seed | 0, step++ | 0], 'int32') : undefined;
      if (stepSeed) inputs['seed'] = stepSeed;
      const out = session.predict(inputs) as tf.NamedTensorMap;
      lr.dispose();
      stepSeed?.dispose();
      const assign = (variable: tf.Variable, value: tf.Tensor) => {
        variable.assign(value);
        value.dispose();
      };
      targets.forEach((variable, i) => assign(variable, out[`u${i}`] as tf.Tensor));
      accumulators.forEach((a, i) => assign(a, out[`m${i}`] as tf.Tensor));
      const [loss, correct] = [out['loss'] as tf.Tensor, out['correct'] as tf.Tensor];
      const [l, c] = await Promise.all([loss.data(), correct.data()]);
      tf.dispose([loss, correct]);
      return { loss: l[0] as number, correct: c[0] as number };
    },
    dispose() {
      if (!disposed) {
        session.dispose();
        tf.dispose(accumulators);
      }
      disposed = true;
    },
  };
}
