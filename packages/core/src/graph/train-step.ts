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
 * Builds the SGD step of `model` as one TensorFlow graph and loads it: each run feeds the batch,
 * the learning rate and every weight, and assigns the new weights and moving statistics back.
 * Other optimisers, layers without a training translation and HEADBENCH_ACCELERATE=0 run eagerly.
 */
export async function compileTrainStep(model: tf.LayersModel, optimizer: tf.Optimizer, classes: number): Promise<CompiledTrainStep> {
  if (!accelerationEnabled()) return eager('acceleration is off (HEADBENCH_ACCELERATE=0)');
  if (optimizer.getClassName() !== 'SGD') return eager(`the optimizer is ${optimizer.getClassName()}; the training graph does plain SGD`);
  let graph;
  try {
    graph = buildTrainGraph(model, classes);
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
  const { feeds, updates } = graph;
  const targets = updates.map((v) => v.read() as tf.Variable);
  const sgd = optimizer as unknown as { learningRate: number };
  let disposed = false;
  return {
    async run(x, y) {
      if (disposed) throw new Error(`the training graph of ${model.name} was disposed`);
      const lr = tf.scalar(sgd.learningRate);
      const inputs: tf.NamedTensorMap = { input: x, labels: y, lr };
      feeds.forEach((variable, i) => (inputs[`w${i}`] = variable.read()));
      const out = session.predict(inputs) as tf.NamedTensorMap;
      lr.dispose();
      targets.forEach((variable, i) => {
        const value = out[`u${i}`] as tf.Tensor;
        variable.assign(value);
        value.dispose();
      });
      const [loss, correct] = [out['loss'] as tf.Tensor, out['correct'] as tf.Tensor];
      const [l, c] = await Promise.all([loss.data(), correct.data()]);
      tf.dispose([loss, correct]);
      return { loss: l[0] as number, correct: c[0] as number };
    },
    dispose() {
      if (!disposed) session.dispose();
      disposed = true;
    },
  };
}
