import { composeModel, defineHead, type Backbone, type BackbonePlugin, type FeatureShape } from '@headbench/core';
import { createTrainStep, sgdConfig, tf } from '@headbench/engine';
import { allFinite, checkMeta, checkOptions, ConformanceError, fail, formatShape, isUsageError, make, maxDifference, messageOf, runChecks, type Check, type FactoryOf } from './shared.js';

/**
 * The contract a backbone keeps, which these checks hold it to:
 *
 * - `featureShape(inputSize)` says, without building, the shape `build({ inputSize })` outputs,
 *   and throws a UsageError naming the size for sizes it cannot take (`build` refuses them too).
 * - `preprocess` maps RGB values in [0, 255] to finite values, keeps the shape, allocates only its
 *   output and does not dispose its input.
 * - Each `build` makes an independent model: disposing one leaves the other working, and one
 *   seed gives the same features.
 * - A training step through backbone and head leaks no tensors.
 */
export interface BackboneConformanceOptions {
  /** Options to make the backbone with for the build checks; keep them cheap (`weights: 'none'`). */
  options?: Record<string, unknown>;
  /** Square input sizes to build at (default 32 and 64). */
  inputSizes?: readonly number[];
  /** Input sizes it declares it cannot take, besides 0 and 2.5, which no backbone can. */
  unsupportedInputSizes?: readonly number[];
  /** SGD steps in the leak check (default 3). */
  trainingSteps?: number;
  /** Whether one seed gives the same features from two builds (default true). */
  deterministic?: boolean;
}

export const DEFAULT_INPUT_SIZES: readonly number[] = [32, 64];
export const ALWAYS_UNSUPPORTED_INPUT_SIZES: readonly number[] = [0, 2.5];

interface Resolved {
  backbone: BackbonePlugin;
  subject: string;
  inputSizes: readonly number[];
}

function resolve(factory: FactoryOf<BackbonePlugin>, check: string, options: BackboneConformanceOptions = {}): Resolved {
  const subject = `backbone "${checkMeta(factory, 'backbone').meta.name}"`;
  const inputSizes = options.inputSizes ?? DEFAULT_INPUT_SIZES;
  if (!inputSizes.length) throw new Error(`${subject}: the conformance options give no input sizes to check`);
  return { backbone: make(factory, subject, check, options.options), subject, inputSizes };
}

/**
 * Images of pseudo-random values from 0 to 255 (a multiplicative hash of the position), each image
 * different. They once repeated every 256 values, and an image of 32x32x3 or 64x64x3 values is a
 * multiple of 256, so the batch held the same image twice: at 32 px EfficientNetB0's last stages
 * are 1x1, training-mode BatchNorm there saw a batch variance of 0, every one scaled its gradient
 * by gamma/sqrt(epsilon), and three SGD steps went to NaN - in Keras 3.15 from the same weights
 * and images too.
 */
function images(batch: number, size: number): tf.Tensor4D {
  const values = Float32Array.from({ length: batch * size * size * 3 }, (_, i) => Math.imul(i + 1, 2654435761) >>> 24);
  return tf.tensor4d(values, [batch, size, size, 3]);
}

async function build(r: Resolved, check: string, inputSize: number, seed = 1): Promise<Backbone> {
  try {
    return await r.backbone.build({ inputSize, seed });
  } catch (error) {
    fail(r.subject, check, `build({ inputSize: ${inputSize}, seed: ${seed} }) threw: ${messageOf(error)}`);
  }
}

function features(r: Resolved, check: string, backbone: Backbone, inputSize: number): tf.Tensor {
  const raw = images(1, inputSize);
  try {
    return tf.tidy(() => backbone.model.predict(r.backbone.preprocess(raw)) as tf.Tensor);
  } catch (error) {
    fail(r.subject, check, `predicting on one preprocessed ${inputSize}x${inputSize} image threw: ${messageOf(error)}`);
  } finally {
    raw.dispose();
  }
}

/** feature shape: featureShape(inputSize) is what build outputs, symbolically and on an image. */
export async function checkBackboneFeatureShape(factory: FactoryOf<BackbonePlugin>, options?: BackboneConformanceOptions): Promise<void> {
  const check = 'feature shape';
  const r = resolve(factory, check, options);
  for (const size of r.inputSizes) {
    let said: FeatureShape;
    try {
      said = r.backbone.featureShape(size);
    } catch (error) {
      fail(r.subject, check, `featureShape(${size}) threw: ${messageOf(error)}`);
    }
    const built = await build(r, check, size);
    try {
      const { model } = built;
      const inputs = model.inputs.map((i) => formatShape(i.shape));
      if (inputs.join() !== formatShape([null, size, size, 3])) fail(r.subject, check, `at ${size}px the model's inputs are ${inputs.join(', ') || 'none'}; expected one [null, ${size}, ${size}, 3]`);
      const outputs = model.outputs.map((o) => formatShape(o.shape));
      if (outputs.join() !== formatShape([null, ...said])) {
        fail(r.subject, check, `featureShape(${size}) says ${formatShape(said)} but the built model outputs ${outputs.join(' and ') || 'nothing'}; expected one [null, ${said.join(', ')}]`);
      }
      if (formatShape(built.featureShape) !== formatShape(said)) fail(r.subject, check, `at ${size}px build() reports featureShape ${formatShape(built.featureShape)} but featureShape(${size}) says ${formatShape(said)}`);
      if (typeof built.weights !== 'string' || !built.weights) fail(r.subject, check, `build() reports weights ${JSON.stringify(built.weights)}; say where they came from ('random', a path, 'imagenet (...)')`);
      const out = features(r, check, built, size);
      const [shape, finite] = [out.shape, allFinite(out)];
      out.dispose();
      if (formatShape(shape) !== formatShape([1, ...said])) fail(r.subject, check, `at ${size}px one image gave features ${formatShape(shape)}; expected [1, ${said.join(', ')}]`);
      if (!finite) fail(r.subject, check, `at ${size}px the features of one image are not all finite`);
    } finally {
      built.model.dispose();
    }
  }
}

/** preprocess: [0, 255] to a finite range, same shape, only its output allocated, input kept. */
export async function checkBackbonePreprocess(factory: FactoryOf<BackbonePlugin>, options?: BackboneConformanceOptions): Promise<void> {
  const check = 'preprocess';
  const r = resolve(factory, check, options);
  const size = r.inputSizes[0] as number;
  const input = images(2, size);
  const before = tf.memory().numTensors;
  let out: tf.Tensor4D;
  try {
    out = r.backbone.preprocess(input);
  } catch (error) {
    input.dispose();
    fail(r.subject, check, `preprocess of [2, ${size}, ${size}, 3] images threw: ${messageOf(error)}`);
  }
  try {
    if (input.isDisposed) fail(r.subject, check, 'preprocess disposed its input; the caller owns it (and uses it again)');
    const extra = tf.memory().numTensors - before - (out === input ? 0 : 1);
    if (extra !== 0) fail(r.subject, check, `preprocess left ${extra} tensors besides its output; compute it inside tf.tidy`);
    if (!(out instanceof tf.Tensor) || formatShape(out.shape) !== formatShape(input.shape)) {
      fail(r.subject, check, `preprocess of ${formatShape(input.shape)} images returned ${out instanceof tf.Tensor ? formatShape(out.shape) : typeof out}; expected the same shape`);
    }
    if (!allFinite(out)) fail(r.subject, check, 'preprocess of values in [0, 255] gave values that are not finite');
    const [min, max] = tf.tidy(() => [tf.min(out).dataSync()[0] ?? Number.NaN, tf.max(out).dataSync()[0] ?? Number.NaN]);
    if (!(max > min)) fail(r.subject, check, `preprocess maps all of [0, 255] to ${min}; it must keep the pixels apart`);
  } finally {
    tf.dispose(out === input ? [input] : [input, out]);
  }
}

// A minimal head, so the backbone checks train through the path a run takes (composeModel).
const probeHead = defineHead({
  meta: { name: 'conformance-probe', version: '0.0.0' },
  schema: {},
  build: (features, { classes, seed }) =>
    tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(tf.layers.globalAveragePooling2d({}).apply(features)) as tf.SymbolicTensor,
});

/** build twice: two builds are independent models; one seed gives the same features (if deterministic). */
export async function checkBackboneBuildTwice(factory: FactoryOf<BackbonePlugin>, options?: BackboneConformanceOptions): Promise<void> {
  const check = 'build twice';
  const r = resolve(factory, check, options);
  const size = r.inputSizes[0] as number;
  const first = await build(r, check, size);
  let second: Backbone | undefined;
  let composed: tf.LayersModel | undefined;
  const outputs: tf.Tensor[] = [];
  try {
    outputs.push(features(r, check, first, size));
    second = await build(r, check, size);
    if (second.model === first.model) fail(r.subject, check, 'two builds returned the same model; each build makes a new one (a run builds one per combination and disposes it)');
    outputs.push(features(r, check, second, size));
    const [a, b] = outputs as [tf.Tensor, tf.Tensor];
    const diff = maxDifference(a, b);
    if ((options?.deterministic ?? true) && !(diff <= 1e-6)) {
      fail(r.subject, check, `two builds with seed 1 give features that differ by up to ${diff}; seed every initialiser from context.seed (or set deterministic: false if the weights cannot be seeded)`);
    }
    try {
      composed = (await composeModel(r.backbone, probeHead(), { inputSize: size, classes: 3, seed: 1 })).model;
    } catch (error) {
      fail(r.subject, check, `composing a third build with a head, after two builds, threw: ${messageOf(error)}`);
    }
    second.model.dispose();
    second = undefined;
    composed.dispose();
    composed = undefined;
    let again: tf.Tensor;
    try {
      again = features(r, check, first, size);
    } catch (error) {
      if (error instanceof ConformanceError) fail(r.subject, check, `after disposing the second build, the first no longer predicts: ${error.message}; builds must not share weights`);
      throw error;
    }
    outputs.push(again);
    const drift = maxDifference(a, again);
    if (!(drift <= 1e-6)) fail(r.subject, check, `after disposing the second build, the first build's features changed by up to ${drift}; builds must not share weights`);
  } finally {
    tf.dispose(outputs);
    // A backbone that hands out one model twice must not turn this failure into a double dispose.
    for (const model of new Set([first.model, second?.model, composed])) model?.dispose();
  }
}

/** no tensor leak: SGD steps of core's train step through backbone and a head keep the tensor count constant. */
export async function checkBackboneNoLeak(factory: FactoryOf<BackbonePlugin>, options?: BackboneConformanceOptions): Promise<void> {
  const check = 'no tensor leak';
  const r = resolve(factory, check, options);
  const size = r.inputSizes[0] as number;
  const steps = Math.max(2, options?.trainingSteps ?? 3);
  let model: tf.LayersModel;
  try {
    model = (await composeModel(r.backbone, probeHead(), { inputSize: size, classes: 3, seed: 1 })).model;
  } catch (error) {
    fail(r.subject, check, `composing it with a head at ${size}px threw: ${messageOf(error)}`);
  }
  const raw = images(2, size);
  const x = r.backbone.preprocess(raw);
  const y = tf.tensor1d([0, 2], 'int32');
  const stepConfig = sgdConfig(0.01, 0);
  const counts: number[] = [];
  const step = createTrainStep(model, stepConfig, 3);
  try {
    for (let i = 0; i < steps; i++) {
      const { loss } = await step(x, y).catch((error: unknown) => fail(r.subject, check, `SGD step ${i + 1} threw: ${messageOf(error)}`));
      if (!Number.isFinite(loss)) fail(r.subject, check, `SGD step ${i + 1} at ${size}px gave loss ${loss}`);
      counts.push(tf.memory().numTensors);
    }
  } finally {
    step.dispose();
    tf.dispose(x === raw ? [raw, y] : [raw, x, y]);
    model.dispose();
  }
  const first = counts[0] as number;
  const grown = counts.findIndex((c) => c !== first);
  if (grown !== -1) {
    fail(r.subject, check, `tensors after each of ${steps} SGD steps: ${counts.join(', ')}; after the first step the count must stay at ${first}, but step ${grown + 1} left ${(counts[grown] as number) - first} more (a layer keeps or creates tensors outside tf.tidy)`);
  }
}

/** unsupported input sizes: featureShape throws a UsageError naming the size, and build refuses too. */
export async function checkBackboneUnsupportedInputSizes(factory: FactoryOf<BackbonePlugin>, options?: BackboneConformanceOptions): Promise<void> {
  const check = 'unsupported input sizes';
  const r = resolve(factory, check, options);
  for (const size of [...ALWAYS_UNSUPPORTED_INPUT_SIZES, ...(options?.unsupportedInputSizes ?? [])]) {
    let said: FeatureShape | undefined;
    try {
      said = r.backbone.featureShape(size);
    } catch (error) {
      if (!isUsageError(error)) fail(r.subject, check, `featureShape(${size}) threw ${error instanceof Error ? error.name : typeof error} "${messageOf(error)}"; expected a UsageError, which the CLI prints without a stack trace`);
      if (!error.message.includes(String(size))) fail(r.subject, check, `featureShape(${size}) was refused with "${error.message}", which does not name the size ${size}`);
    }
    if (said) fail(r.subject, check, `featureShape(${size}) returned ${formatShape(said)}; an input size it cannot take must throw a UsageError that names the size`);
    let built: Backbone | undefined;
    try {
      built = await r.backbone.build({ inputSize: size, seed: 1 });
    } catch (error) {
      if (!isUsageError(error)) fail(r.subject, check, `build({ inputSize: ${size} }) threw ${error instanceof Error ? error.name : typeof error} "${messageOf(error)}"; expected the UsageError featureShape gives`);
    }
    if (built) {
      built.model.dispose();
      fail(r.subject, check, `build({ inputSize: ${size} }) built a model although featureShape(${size}) refuses the size`);
    }
  }
}

export const BACKBONE_CHECKS: readonly Check<BackbonePlugin, BackboneConformanceOptions>[] = [
  { id: 'meta', title: 'has well-formed meta (name, semver version, kind backbone)', run: async (f) => void checkMeta(f, 'backbone') },
  { id: 'options', title: 'validates its options (defaults, unknown keys, wrong types)', run: async (f) => checkOptions(f, 'backbone') },
  { id: 'feature-shape', title: 'outputs the feature shape featureShape(inputSize) says', run: checkBackboneFeatureShape },
  { id: 'preprocess', title: 'preprocesses [0, 255] to finite values, keeping its input', run: checkBackbonePreprocess },
  { id: 'build-twice', title: 'builds independent, seeded models', run: checkBackboneBuildTwice },
  { id: 'no-leak', title: 'trains with a head without leaking tensors', run: checkBackboneNoLeak },
  { id: 'unsupported-input-sizes', title: 'refuses input sizes it cannot take with a UsageError', run: checkBackboneUnsupportedInputSizes },
];

/** Runs every backbone check and throws one ConformanceError listing each failure. */
export function checkBackboneConformance(factory: FactoryOf<BackbonePlugin>, options?: BackboneConformanceOptions): Promise<void> {
  return runChecks(BACKBONE_CHECKS, factory, options);
}
