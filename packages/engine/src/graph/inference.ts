import { accelerationEnabled } from '../accelerate.js';
import { tf } from '../runtime.js';
import { applyPasses, DEFAULT_PASSES, type DerivedFeed, type InferencePasses, type PassReport } from './fuse.js';
import { DT_FLOAT, type NodeDef, type Signature } from './saved-model.js';
import { loadGraph, type GraphSession } from './session.js';
import { translateInference, UnsupportedLayerError } from './translate.js';

/**
 * Inference for a tfjs-layers model: one TensorFlow session run per batch instead of one eager
 * op per layer. The model is translated into a graph (translate.ts), folded and fused
 * (fuse.ts: BatchNorms into their convolutions, padding into convolutions), written as a
 * SavedModel without variables and loaded through tfjs-node. Weights are fed from the model's
 * variables at each run, folded ones recomputed whenever a variable they come from has changed,
 * so the graph always computes what `model.predict` would, before and after training.
 *
 * A model with a layer that has no translation runs eagerly (`engine: 'eager'`, `reason` says
 * which layer); so does everything with HEADBENCH_ACCELERATE=0.
 */
export interface InferenceModel {
  engine: 'graph' | 'eager';
  /** Why the model runs eagerly, when it does. */
  reason?: string;
  /** What the graph passes did (graph engine only). */
  passes?: PassReport;
  /** Logits for a batch, in inference mode; the caller disposes the result. */
  predict(x: tf.Tensor): tf.Tensor;
  /** Releases the TensorFlow session and the folded weights (eager: nothing to release). */
  dispose(): void;
}

export interface InferenceGraph {
  nodes: NodeDef[];
  signature: Signature;
  /** Weights fed as they are: signature input `w<i>` takes `feeds[i].read()`. */
  feeds: tf.LayerVariable[];
  /** Weights computed from variables (folded BatchNorms), fed as the signature inputs each names. */
  derived: DerivedFeed[];
  passes: PassReport;
}

/**
 * The model's inference computation as a graph with one input `input` and one output `logits`,
 * after the passes (fuse.ts' defaults unless `passes` says otherwise).
 */
export function buildInferenceGraph(model: tf.LayersModel, passes: Partial<InferencePasses> = {}): InferenceGraph {
  const { graph, input, logits, inputShape, outputShape, shapes } = translateInference(model);
  const result = applyPasses(graph, [input, logits], shapes, { ...DEFAULT_PASSES, ...passes });
  const signature: Signature = {
    inputs: { input: { name: `${input}:0`, dtype: DT_FLOAT, shape: inputShape } },
    outputs: { logits: { name: `${logits}:0`, dtype: DT_FLOAT, shape: outputShape } },
  };
  result.feeds.forEach(({ placeholder, variable }, i) => (signature.inputs[`w${i}`] = { name: `${placeholder}:0`, dtype: DT_FLOAT, shape: variable.shape }));
  let next = 0;
  const derived = result.derived.map(({ placeholders, shapes: feedShapes, feed }) => {
    const names = placeholders.map((placeholder, i) => {
      const name = `f${next++}`;
      signature.inputs[name] = { name: `${placeholder}:0`, dtype: DT_FLOAT, shape: feedShapes[i]! };
      return name;
    });
    return { ...feed, names };
  });
  return { nodes: result.nodes, signature, feeds: result.feeds.map((f) => f.variable), derived, passes: result.report };
}

function eager(model: tf.LayersModel, reason: string): InferenceModel {
  return { engine: 'eager', reason, predict: (x) => model.predict(x, { batchSize: x.shape[0] }) as tf.Tensor, dispose: () => {} };
}

/**
 * Folded weights, computed from their source variables and kept until one of those changes. A
 * variable changes by `assign` (training, `setWeights`, loading weights), which gives it new data:
 * the data ids of the sources say whether the kept values are current.
 */
class DerivedCache {
  private values: tf.Tensor[] = [];
  private seen: object[] = [];

  constructor(private readonly feed: DerivedFeed) {}

  current(): tf.Tensor[] {
    const sources = this.feed.sources.map((v) => v.read());
    if (this.values.length > 0 && sources.every((s, i) => s.dataId === this.seen[i])) return this.values;
    this.dispose();
    this.values = tf.tidy(() => this.feed.compute(sources)).map((t) => tf.keep(t));
    this.seen = sources.map((s) => s.dataId);
    return this.values;
  }

  dispose(): void {
    tf.dispose(this.values);
    this.values = [];
    this.seen = [];
  }
}

/** Builds the model's inference graph, or says why it runs eagerly. */
export async function compileInference(model: tf.LayersModel, passes: Partial<InferencePasses> = {}): Promise<InferenceModel> {
  if (!accelerationEnabled()) return eager(model, 'acceleration is off (HEADBENCH_ACCELERATE=0)');
  let graph;
  try {
    graph = buildInferenceGraph(model, passes);
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
  const derived = graph.derived.map((feed) => ({ names: feed.names, cache: new DerivedCache(feed) }));
  // Computed now, so that the tensors the folded weights take are there from the start: later
  // runs replace them when the weights change, one for one (a training loop's tensor count
  // stays flat across its evaluations).
  derived.forEach(({ cache }) => cache.current());
  let disposed = false;
  return {
    engine: 'graph',
    passes: graph.passes,
    predict(x) {
      if (disposed) throw new Error(`the inference graph of ${model.name} was disposed`);
      const inputs: tf.NamedTensorMap = { input: x };
      feeds.forEach((variable, i) => (inputs[`w${i}`] = variable.read()));
      for (const { names, cache } of derived) cache.current().forEach((value, i) => (inputs[names[i]!] = value));
      return (session.predict(inputs) as tf.NamedTensorMap)['logits'] as tf.Tensor;
    },
    dispose() {
      if (!disposed) {
        session.dispose();
        derived.forEach(({ cache }) => cache.dispose());
      }
      disposed = true;
    },
  };
}
