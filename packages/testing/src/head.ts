import { countParams, type FeatureShape, type HeadPlugin } from '@headbench/core';
import { accelerationEnabled, compileInference, createTrainStep, sgdConfig, setAcceleration, tf } from '@headbench/engine';
import {
  allFinite,
  checkMeta,
  checkOptions,
  ConformanceError,
  fail,
  formatShape,
  make,
  maxDifference,
  messageOf,
  runChecks,
  type Check,
  type FactoryOf,
} from './shared.js';

/**
 * The contract a head keeps, which these checks hold it to:
 *
 * - `build(features, { classes, featureShape, seed })` receives rank-4 symbolic features
 *   `[batch, height, width, channels]` (`featureShape` is the last three) and returns logits
 *   `[batch, classes]`, no softmax: the trainer applies softmax cross-entropy.
 * - Every initialiser is seeded from `seed`, so that a run repeats.
 * - Layer names are left to tfjs (or made unique), so that two heads can share one model.
 * - Only standard or registered layers (`tf.serialization.registerClass`), so the model saves.
 * - A feature map the head cannot take is refused while building, before a tfjs layer fails
 *   somewhere inside, with an error naming the head and the shape. `defineHead` refuses
 *   features that are not rank 4 this way; a head made otherwise does it itself, e.g.
 *   `throw new UsageError(\`${name}: expects features [batch, height, width, channels], got [${features.shape.map((d) => d ?? 'batch').join(', ')}]\`)`.
 *   The kit probes every head with rank-2 features `[batch, 16]`: it may work, or refuse so.
 */
export interface HeadConformanceOptions {
  /** Options to make the head with for the build checks (default: none, the defaults). */
  options?: Record<string, unknown>;
  /** Feature maps to build on (default [1, 1, 8], [3, 3, 16], [7, 7, 32]). */
  featureShapes?: readonly FeatureShape[];
  /** Class counts to build for (default 2 and 5). */
  classes?: readonly number[];
  /**
   * Feature shapes (without the batch axis) the head declares it cannot take; building on each
   * must throw an error naming the head and the shape.
   */
  unsupportedFeatureShapes?: readonly (readonly number[])[];
  /** SGD steps in the leak check (default 4; the count must not move after the first). */
  trainingSteps?: number;
  /**
   * The head uses a layer that has no TensorFlow graph translation (core's `layerTranslators`)
   * and whose call cannot be traced into one (random ops, values read back in JavaScript), so
   * inference runs eagerly, op by op. Without this the inference-graph check fails and says
   * which layer and op.
   */
  eagerInference?: boolean;
  /**
   * The head uses a layer the training graph cannot differentiate (a `trainTranslators` entry
   * that refuses, such as dropout with a rate, or a call that cannot be traced), so its training
   * step runs eagerly. Without this the training-graph check fails and says which layer.
   */
  eagerTraining?: boolean;
}

export const DEFAULT_FEATURE_SHAPES: readonly FeatureShape[] = [
  [1, 1, 8],
  [3, 3, 16],
  [7, 7, 32],
];
export const DEFAULT_CLASSES: readonly number[] = [2, 5];
/** Features of the wrong rank, which a head must take or refuse by name. */
export const RANK_2_PROBE: readonly number[] = [16];

interface Resolved {
  head: HeadPlugin;
  subject: string;
  featureShapes: readonly FeatureShape[];
  classes: readonly number[];
  options?: Record<string, unknown>;
}

function resolve(factory: FactoryOf<HeadPlugin>, check: string, options: HeadConformanceOptions = {}): Resolved {
  const meta = checkMeta(factory, 'head').meta;
  const subject = `head "${meta.name}"`;
  const featureShapes = options.featureShapes ?? DEFAULT_FEATURE_SHAPES;
  const classes = options.classes ?? DEFAULT_CLASSES;
  if (!featureShapes.length || !classes.length) throw new Error(`${subject}: the conformance options give no feature shapes or no class counts to check`);
  return { head: make(factory, subject, check, options.options), subject, featureShapes, classes, ...(options.options && { options: options.options }) };
}

/** Builds the head on a features input; a throw becomes a failure of `check`. */
function buildOn(r: Resolved, check: string, featureShape: FeatureShape, classes: number, seed = 1, head = r.head) {
  const input = tf.input({ shape: [...featureShape] });
  let logits: unknown;
  try {
    logits = head.build(input, { classes, featureShape, seed });
  } catch (error) {
    fail(r.subject, check, `building on features ${formatShape([null, ...featureShape])} with ${classes} classes threw: ${messageOf(error)}`);
  }
  if (!(logits instanceof tf.SymbolicTensor)) {
    fail(r.subject, check, `build returned ${logits === null ? 'null' : typeof logits} for features ${formatShape([null, ...featureShape])}; expected the symbolic tensor of logits (layer.apply(features))`);
  }
  return { input, logits };
}

function modelOf(r: Resolved, check: string, inputs: tf.SymbolicTensor, outputs: tf.SymbolicTensor | tf.SymbolicTensor[], what: string): tf.LayersModel {
  try {
    return tf.model({ inputs, outputs });
  } catch (error) {
    fail(r.subject, check, `${what}: tf.model could not make a model of the head: ${messageOf(error)}`);
  }
}

// tfjs-node's typings do not re-export the tf.io namespace's types.
type ModelArtifacts = Parameters<Parameters<typeof tf.io.withSaveHandler>[0]>[0];

function weightSize(weights: readonly tf.LayerVariable[]): number {
  return weights.reduce((sum, w) => sum + w.shape.reduce<number>((p, d) => p * (d ?? 1), 1), 0);
}

/** output shape: [batch, classes] logits, symbolically and on real features, for each shape and class count. */
export async function checkHeadOutputShape(factory: FactoryOf<HeadPlugin>, options?: HeadConformanceOptions): Promise<void> {
  const check = 'output shape';
  const r = resolve(factory, check, options);
  for (const featureShape of r.featureShapes) {
    for (const classes of r.classes) {
      const what = `features ${formatShape([null, ...featureShape])} with ${classes} classes`;
      const { input, logits } = buildOn(r, check, featureShape, classes);
      if (logits.shape.length !== 2 || logits.shape[1] !== classes) {
        fail(r.subject, check, `${what} gave ${formatShape(logits.shape)}; expected [null, ${classes}] (a logit per class, no softmax)`);
      }
      const model = modelOf(r, check, input, logits, what);
      const x = tf.randomUniform([3, ...featureShape], 0, 1, 'float32', 7);
      try {
        let y: tf.Tensor;
        try {
          y = model.predict(x) as tf.Tensor;
        } catch (error) {
          fail(r.subject, check, `${what}: predicting a batch of 3 threw: ${messageOf(error)}`);
        }
        const [shape, finite] = [y.shape, allFinite(y)];
        y.dispose();
        if (shape.join() !== [3, classes].join()) fail(r.subject, check, `${what}: predicting a batch of 3 gave ${formatShape(shape)}; expected [3, ${classes}]`);
        if (!finite) fail(r.subject, check, `${what}: predicting gave values that are not finite`);
      } finally {
        x.dispose();
        model.dispose();
      }
    }
  }
}

/** seeded: two builds with one seed hold the same weights, so a run repeats. */
export async function checkHeadSeeded(factory: FactoryOf<HeadPlugin>, options?: HeadConformanceOptions): Promise<void> {
  const check = 'seeded initialisation';
  const r = resolve(factory, check, options);
  const featureShape = r.featureShapes[r.featureShapes.length - 1] as FeatureShape;
  const classes = r.classes[r.classes.length - 1] as number;
  const weights = () => {
    const { input, logits } = buildOn(r, check, featureShape, classes, 5);
    const model = modelOf(r, check, input, logits, 'seeded');
    const values = model.weights.map((w) => ({ name: w.originalName, values: Array.from(w.read().dataSync()) }));
    model.dispose();
    return values;
  };
  const [a, b] = [weights(), weights()];
  a.forEach((w, i) => {
    if (w.values.join() !== b[i]?.values.join()) {
      fail(r.subject, check, `two builds with seed 5 gave different values for weight ${i} (${w.name}); seed every initialiser from context.seed, e.g. tf.initializers.glorotUniform({ seed })`);
    }
  });
}

/**
 * parameter count: core's countParams head count equals the weights of the head's own layers,
 * and the head's paramCount(featureShape, classes), if it has one, equals both.
 */
export async function checkHeadParamCount(factory: FactoryOf<HeadPlugin>, options?: HeadConformanceOptions): Promise<void> {
  const check = 'parameter count';
  const r = resolve(factory, check, options);
  for (const featureShape of r.featureShapes) {
    for (const classes of r.classes) {
      const what = `features ${formatShape(featureShape)} with ${classes} classes`;
      // A stand-in backbone with weights of its own, so that countParams has something to subtract.
      const image = tf.input({ shape: [featureShape[0], featureShape[1], 2] });
      const features = tf.layers.conv2d({ filters: featureShape[2], kernelSize: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(image) as tf.SymbolicTensor;
      const backbone = tf.model({ inputs: image, outputs: features });
      let logits: unknown;
      try {
        logits = r.head.build(features, { classes, featureShape, seed: 1 });
      } catch (error) {
        backbone.dispose();
        fail(r.subject, check, `${what}: building threw: ${messageOf(error)}`);
      }
      const model = modelOf(r, check, image, logits as tf.SymbolicTensor, what);
      try {
        const counted = countParams(model, backbone).head;
        const own = model.layers.filter((l) => !backbone.layers.includes(l));
        const ownCount = weightSize(own.flatMap((l) => l.weights));
        const breakdown = own.map((l) => `${l.name} ${weightSize(l.weights)}`).join(', ') || 'no layers';
        if (counted !== ownCount) {
          fail(r.subject, check, `${what}: countParams reports ${counted} head parameters but the head's own layers hold ${ownCount} (${breakdown}); a head must not add weights to, or share them with, the backbone's layers`);
        }
        if (r.head.paramCount) {
          let said: unknown;
          try {
            said = r.head.paramCount(featureShape, classes);
          } catch (error) {
            fail(r.subject, check, `paramCount(${formatShape(featureShape)}, ${classes}) threw: ${messageOf(error)}`);
          }
          if (said !== ownCount) {
            fail(r.subject, check, `paramCount(${formatShape(featureShape)}, ${classes}) says ${JSON.stringify(said)} but the built head has ${ownCount} parameters (${breakdown})`);
          }
        }
      } finally {
        model.dispose();
      }
    }
  }
}

/** two in one model: two instances built on one input make one model, without name clashes. */
export async function checkHeadTwiceInOneModel(factory: FactoryOf<HeadPlugin>, options?: HeadConformanceOptions): Promise<void> {
  const check = 'two heads in one model';
  const r = resolve(factory, check, options);
  const featureShape = r.featureShapes[1] ?? (r.featureShapes[0] as FeatureShape);
  const input = tf.input({ shape: [...featureShape] });
  // Two instances, as a run makes one per combination; the second with other classes and seed.
  const second = make(factory, r.subject, check, r.options);
  let a: tf.SymbolicTensor;
  let b: tf.SymbolicTensor;
  try {
    a = r.head.build(input, { classes: 3, featureShape, seed: 1 });
    b = second.build(input, { classes: 4, featureShape, seed: 2 });
  } catch (error) {
    fail(r.subject, check, `building a second head on the same features threw: ${messageOf(error)}; leave layer names to tfjs (it makes them unique) or make them unique yourself`);
  }
  let model: tf.LayersModel;
  try {
    model = tf.model({ inputs: input, outputs: [a, b] });
  } catch (error) {
    fail(r.subject, check, `two heads on one input do not make one model: ${messageOf(error)}; leave layer names to tfjs (it makes them unique) or make them unique yourself`);
  }
  try {
    const names = model.layers.map((l) => l.name);
    const repeated = names.filter((n, i) => names.indexOf(n) !== i);
    if (repeated.length) fail(r.subject, check, `layer names repeat in one model: ${[...new Set(repeated)].join(', ')}`);
    const x = tf.ones([2, ...featureShape]);
    const outs = model.predict(x) as tf.Tensor[];
    const shapes = outs.map((o) => formatShape(o.shape)).join(' and ');
    tf.dispose([x, ...outs]);
    if (shapes !== '[2, 3] and [2, 4]') fail(r.subject, check, `heads for 3 and 4 classes in one model predicted ${shapes}; expected [2, 3] and [2, 4]`);
  } finally {
    model.dispose();
  }
}

/**
 * no tensor leak: a few SGD steps of core's train step (softmax cross-entropy on the logits) keep
 * tf.memory().numTensors constant after the first, and disposing the model frees what it held.
 */
export async function checkHeadNoLeak(factory: FactoryOf<HeadPlugin>, options?: HeadConformanceOptions): Promise<void> {
  const check = 'no tensor leak';
  const r = resolve(factory, check, options);
  const steps = Math.max(2, options?.trainingSteps ?? 4);
  const featureShape = r.featureShapes[1] ?? (r.featureShapes[0] as FeatureShape);
  const classes = 3;
  const baseline = tf.memory().numTensors;
  const x = tf.randomUniform([4, ...featureShape], 0, 1, 'float32', 3);
  const y = tf.tensor1d([0, 1, 2, 0], 'int32');
  const { input, logits } = buildOn(r, check, featureShape, classes);
  const model = modelOf(r, check, input, logits, 'training');
  const stepConfig = sgdConfig(0.01, 0);
  const counts: number[] = [];
  const step = createTrainStep(model, stepConfig, classes);
  try {
    for (let i = 0; i < steps; i++) {
      const { loss } = await step(x as tf.Tensor4D, y as tf.Tensor1D).catch((error: unknown) => fail(r.subject, check, `SGD step ${i + 1} threw: ${messageOf(error)}`));
      if (!Number.isFinite(loss)) fail(r.subject, check, `SGD step ${i + 1} on features ${formatShape([4, ...featureShape])} gave loss ${loss}`);
      counts.push(tf.memory().numTensors);
    }
  } finally {
    step.dispose();
    model.dispose();
    tf.dispose([x, y]);
  }
  const first = counts[0] as number;
  const grown = counts.findIndex((c) => c !== first);
  if (grown !== -1) {
    fail(r.subject, check, `tensors after each of ${steps} SGD steps: ${counts.join(', ')}; after the first step the count must stay at ${first}, but step ${grown + 1} left ${(counts[grown] as number) - first} more (a layer keeps or creates tensors outside tf.tidy)`);
  }
  const left = tf.memory().numTensors - baseline;
  if (left > 0) fail(r.subject, check, `disposing the model and the optimizer left ${left} tensors that building the head created; a layer holds tensors it does not dispose`);
}

/** save and load: model.save to memory and tf.loadLayersModel from it give the same outputs. */
export async function checkHeadSerialization(factory: FactoryOf<HeadPlugin>, options?: HeadConformanceOptions): Promise<void> {
  const check = 'save and load';
  const r = resolve(factory, check, options);
  const featureShape = r.featureShapes[1] ?? (r.featureShapes[0] as FeatureShape);
  const classes = r.classes[r.classes.length - 1] as number;
  const { input, logits } = buildOn(r, check, featureShape, classes);
  const model = modelOf(r, check, input, logits, 'save');
  const x = tf.randomUniform([3, ...featureShape], 0, 1, 'float32', 11);
  let loaded: tf.LayersModel | undefined;
  try {
    let artifacts: ModelArtifacts | undefined;
    try {
      await model.save(
        tf.io.withSaveHandler(async (a) => {
          artifacts = a;
          return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
        }),
      );
    } catch (error) {
      fail(r.subject, check, `model.save failed: ${messageOf(error)}`);
    }
    try {
      loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts as ModelArtifacts));
    } catch (error) {
      fail(r.subject, check, `tf.loadLayersModel could not rebuild the saved model: ${messageOf(error)}; use tfjs layers, or give a custom layer a static className and tf.serialization.registerClass it`);
    }
    const [before, after] = [model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
    const diff = before.shape.join() === after.shape.join() ? maxDifference(before, after) : Number.NaN;
    const shapes = [formatShape(before.shape), formatShape(after.shape)];
    tf.dispose([before, after]);
    if (!(diff <= 1e-6)) {
      fail(r.subject, check, Number.isNaN(diff) ? `the reloaded model predicts ${shapes[1]} where the original predicts ${shapes[0]}` : `the reloaded model's outputs differ from the original's by up to ${diff}; every weight must be saved (layer.weights) and restored`);
    }
  } finally {
    x.dispose();
    model.dispose();
    loaded?.dispose();
  }
}

/**
 * unsupported features: each declared unsupported shape, and rank-2 features [batch, 16], either
 * build [batch, classes] (rank 2 only) or throw while building with an error that names the head
 * and the shape.
 */
export async function checkHeadUnsupportedFeatures(factory: FactoryOf<HeadPlugin>, options?: HeadConformanceOptions): Promise<void> {
  const check = 'unsupported features';
  const r = resolve(factory, check, options);
  const declared = options?.unsupportedFeatureShapes ?? [];
  const name = r.head.meta.name;
  for (const dims of [...declared, RANK_2_PROBE]) {
    const mustThrow = dims !== RANK_2_PROBE;
    const shown = formatShape([null, ...dims]);
    const input = tf.input({ shape: [...dims] });
    let logits: tf.SymbolicTensor;
    try {
      // The context says what the features are; for a wrong rank that is not a FeatureShape.
      logits = r.head.build(input, { classes: 3, featureShape: [...dims] as unknown as FeatureShape, seed: 1 });
    } catch (error) {
      const message = messageOf(error);
      if (error instanceof ConformanceError) throw error;
      if (!message.includes(name) || !message.includes(dims.join(', '))) {
        fail(r.subject, check, `building on features ${shown} threw "${message}", which does not name the head ("${name}") and the shape (${dims.join(', ')}); check the features first and throw, e.g. new UsageError(\`${name}: expects features [batch, height, width, channels], got [\${features.shape.map((d) => d ?? 'batch').join(', ')}]\`)`);
      }
      continue;
    }
    if (mustThrow) fail(r.subject, check, `building on features ${shown}, declared unsupported, returned ${formatShape(logits.shape)} instead of throwing`);
    if (logits.shape.length !== 2 || logits.shape[1] !== 3) {
      fail(r.subject, check, `building on features ${shown} returned ${formatShape(logits.shape)}; build [batch, 3] or throw an error naming the head and the shape`);
    }
  }
}

/**
 * inference graph: the head translates into core's TensorFlow inference graph, which predicts
 * what model.predict does; or it declares `eagerInference` and the check says nothing more.
 */
export async function checkHeadInferenceGraph(factory: FactoryOf<HeadPlugin>, options?: HeadConformanceOptions): Promise<void> {
  const check = 'inference graph';
  const r = resolve(factory, check, options);
  const featureShape = r.featureShapes[1] ?? (r.featureShapes[0] as FeatureShape);
  const classes = r.classes[r.classes.length - 1] as number;
  const { input, logits } = buildOn(r, check, featureShape, classes);
  const model = modelOf(r, check, input, logits, 'inference');
  const inference = await compileInference(model);
  const x = tf.randomUniform([3, ...featureShape], 0, 1, 'float32', 13);
  try {
    if (inference.engine === 'eager') {
      if (options?.eagerInference) return;
      fail(r.subject, check, `inference runs eagerly, op by op: ${inference.reason}; write the layer's call with tfjs ops a trace can follow, add a translator for that layer class to layerTranslators from @headbench/core, or pass { eagerInference: true } to the kit to accept the slower path`);
    }
    const [eager, graph] = [model.predict(x) as tf.Tensor, inference.predict(x)];
    const diff = maxDifference(eager, graph);
    tf.dispose([eager, graph]);
    if (!(diff <= 1e-5)) fail(r.subject, check, `the inference graph's outputs differ from model.predict's by up to ${diff}; a layer's translation does not compute what its call does`);
  } finally {
    x.dispose();
    inference.dispose();
    model.dispose();
  }
}

/**
 * training graph: core's SGD step runs the head as one TensorFlow graph and gives the loss and
 * updated weights of the eager tfjs step; or the head declares `eagerTraining`.
 */
export async function checkHeadTrainingGraph(factory: FactoryOf<HeadPlugin>, options?: HeadConformanceOptions): Promise<void> {
  const check = 'training graph';
  const r = resolve(factory, check, options);
  const featureShape = r.featureShapes[1] ?? (r.featureShapes[0] as FeatureShape);
  const classes = 3;
  const x = tf.randomUniform([4, ...featureShape], 0, 1, 'float32', 17) as tf.Tensor4D;
  const y = tf.tensor1d([0, 1, 2, 0], 'int32');
  const wasAccelerated = accelerationEnabled();
  // Both steps start from the same weights (copied, so an unseeded head is compared fairly).
  let start: Float32Array[] | undefined;
  const trainOnce = async (graph: boolean) => {
    setAcceleration(graph);
    const { input, logits } = buildOn(r, check, featureShape, classes, 3);
    const model = modelOf(r, check, input, logits, 'training');
    if (start) tf.tidy(() => model.setWeights(model.weights.map((w, i) => tf.tensor(start![i]!, w.shape as number[]))));
    else start = model.weights.map((w) => w.read().dataSync() as Float32Array);
    const stepConfig = sgdConfig(0.1, 0);
    const step = createTrainStep(model, stepConfig, classes);
    try {
      const { loss } = await step(x, y).catch((error: unknown) => fail(r.subject, check, `an SGD step threw: ${messageOf(error)}`));
      return { loss, engine: step.engine, weights: model.weights.map((w) => ({ name: w.originalName, values: Array.from(w.read().dataSync()) })) };
    } finally {
      step.dispose();
      model.dispose();
    }
  };
  try {
    const graph = await trainOnce(true);
    if (graph.engine?.engine !== 'graph') {
      if (options?.eagerTraining) return;
      fail(r.subject, check, `the training step runs eagerly, op by op: ${graph.engine?.reason}; write the layer's call with tfjs ops a trace can follow, add a training translator for that layer class to trainTranslators from @headbench/core, or pass { eagerTraining: true } to the kit to accept the slower path`);
    }
    const eager = await trainOnce(false);
    if (!(Math.abs(graph.loss - eager.loss) <= 1e-5)) fail(r.subject, check, `the training graph's loss ${graph.loss} differs from the eager step's ${eager.loss}`);
    graph.weights.forEach((w, i) => {
      const other = eager.weights[i]!.values;
      const diff = w.values.reduce((m, v, k) => Math.max(m, Math.abs(v - other[k]!)), 0);
      if (!(diff <= 1e-5)) fail(r.subject, check, `after one SGD step, weight ${i} (${w.name}) differs from the eager step's by up to ${diff}; a layer's training translation does not compute what its call and gradient do`);
    });
  } finally {
    setAcceleration(wasAccelerated);
    tf.dispose([x, y]);
  }
}

/** Every head check, in the order a failure is best read (meta first: the others rely on it). */
export const HEAD_CHECKS: readonly Check<HeadPlugin, HeadConformanceOptions>[] = [
  { id: 'meta', title: 'has well-formed meta (name, semver version, kind head)', run: async (f) => void checkMeta(f, 'head') },
  { id: 'options', title: 'validates its options (defaults, unknown keys, wrong types)', run: async (f) => checkOptions(f, 'head') },
  { id: 'output-shape', title: 'maps each feature shape to [batch, classes] logits', run: checkHeadOutputShape },
  { id: 'seeded', title: 'builds the same weights from the same seed', run: checkHeadSeeded },
  { id: 'param-count', title: 'reports the parameter count its layers hold', run: checkHeadParamCount },
  { id: 'two-in-one-model', title: 'can be built twice in one model without name clashes', run: checkHeadTwiceInOneModel },
  { id: 'no-leak', title: 'trains without leaking tensors', run: checkHeadNoLeak },
  { id: 'serialization', title: 'saves and reloads with identical outputs', run: checkHeadSerialization },
  { id: 'inference-graph', title: 'infers as one TensorFlow graph with the outputs of model.predict', run: checkHeadInferenceGraph },
  { id: 'training-graph', title: 'trains as one TensorFlow graph with the updates of the eager step', run: checkHeadTrainingGraph },
  { id: 'unsupported-features', title: 'refuses feature shapes it cannot take by name', run: checkHeadUnsupportedFeatures },
];

/** Runs every head check and throws one ConformanceError listing each failure. */
export function checkHeadConformance(factory: FactoryOf<HeadPlugin>, options?: HeadConformanceOptions): Promise<void> {
  return runChecks(HEAD_CHECKS, factory, options);
}
