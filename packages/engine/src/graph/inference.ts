import { accelerationEnabled } from '../accelerate.js';
import type { tf } from '../runtime.js';
import { loadGraph, type GraphSession } from './session.js';
import { buildInferenceGraph, UnsupportedLayerError } from './translate.js';

/**
 * Inference for a tfjs-layers model: one TensorFlow session run per batch instead of one eager
 * op per layer. The model is translated into a graph (translate.ts), written as a SavedModel
 * without variables and loaded through tfjs-node; TensorFlow's graph optimiser then fuses
 * convolutions with their bias and activation and plans the memory, as it does for Keras'
 * traced `predict`. Weights are fed from the model's variables at each run, so the graph always
 * computes what `model.predict` would, before and after training.
 *
 * A model with a layer that has no translation runs eagerly (`engine: 'eager'`, `reason` says
 * which layer); so does everything with HEADBENCH_ACCELERATE=0.
 */
export interface InferenceModel {
  engine: 'graph' | 'eager';
  /** Why the model runs eagerly, when it does. */
  reason?: string;
  /** Logits for a batch, in inference mode; the caller disposes the result. */
  predict(x: tf.Tensor): tf.Tensor;
  /** Releases the TensorFlow session (eager: nothing to release). */
  dispose(): void;
}

function eager(model: tf.LayersModel, reason: string): InferenceModel {
  return { engine: 'eager', reason, predict: (x) => model.predict(x, { batchSize: x.shape[0] }) as tf.Tensor, dispose: () => {} };
}

/** Builds the model's inference graph, or says why it runs eagerly. */
export async function compileInference(model: tf.LayersModel): Promise<InferenceModel> {
  if (!accelerationEnabled()) return eager(model, 'acceleration is off (HEADBENCH_ACCELERATE=0)');
  let graph;
  try {
    graph = buildInferenceGraph(model);
  } catch (error) {
    if (error instanceof UnsupportedLayerError) return eager(model, error.message);
    throw error;
  }
  let session: GraphSession;
  try {
    session = await loadGraph(graph.nodes, graph.signature);
  } catch (error) {
    // A translation TensorFlow refuses is headbench's bug, but not a reason to lose a run.
    return eager(model, `TensorFlow did not load its inference graph: ${(error as Error).message.split('\n')[0]}`);
  }
  const { feeds } = graph;
  let disposed = false;
  return {
    engine: 'graph',
    predict(x) {
      if (disposed) throw new Error(`the inference graph of ${model.name} was disposed`);
      const inputs: tf.NamedTensorMap = { input: x };
      feeds.forEach((variable, i) => (inputs[`w${i}`] = variable.read()));
      return (session.predict(inputs) as tf.NamedTensorMap)['logits'] as tf.Tensor;
    },
    dispose() {
      if (!disposed) session.dispose();
      disposed = true;
    },
  };
}
