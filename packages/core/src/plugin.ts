import type { AugmentOptions, OptimizerSpec, tf } from '@headbench/engine';
import type { OptionsSchema, OptionValue } from './options.js';

export type PluginKind = 'backbone' | 'head' | 'trainer';

/** Who a plugin is. `name` is how users select it (`--head gap`); results record name and version. */
export interface PluginMeta<K extends PluginKind = PluginKind> {
  name: string;
  version: string;
  kind: K;
  description?: string;
}

/** Height, width and channels of a backbone's feature map. */
export type FeatureShape = readonly [height: number, width: number, channels: number];

interface PluginBase<K extends PluginKind> {
  meta: PluginMeta<K>;
  /** The options this plugin declares, with types, defaults and ranges (for the CLI and docs). */
  schema: OptionsSchema;
  /** The options this instance was made with, every key resolved. */
  options: Readonly<Record<string, OptionValue>>;
}

export interface BackboneBuildContext {
  /** Square input size in pixels. */
  inputSize: number;
  /** Seeds random initialisation, where the weights are not loaded. */
  seed: number;
}

/** A built feature extractor: a graph from an image input to a feature map. */
export interface Backbone {
  model: tf.LayersModel;
  featureShape: FeatureShape;
  /** Where the weights came from, for the results (`random`, a file path, `imagenet (...)`). */
  weights: string;
}

/**
 * A feature extractor such as MobileNetV2. `build` returns a model whose layers keep their
 * own names (so weights load by name) and whose output a head is built on.
 */
export interface BackbonePlugin extends PluginBase<'backbone'> {
  /** The feature map for square inputs of `inputSize`; throws a UsageError for sizes it cannot take. */
  featureShape(inputSize: number): FeatureShape;
  /**
   * Raw RGB images with values in [0, 255] to what the network expects (Keras' `preprocess_input`).
   * Must not dispose its input.
   */
  preprocess(images: tf.Tensor4D): tf.Tensor4D;
  build(context: BackboneBuildContext): Promise<Backbone>;
}

export interface HeadBuildContext {
  classes: number;
  featureShape: FeatureShape;
  /** Seeds the head's initialisers. */
  seed: number;
}

/** A classifier on a feature map: turns features into logits (no softmax) for `classes` classes. */
export interface HeadPlugin extends PluginBase<'head'> {
  build(features: tf.SymbolicTensor, context: HeadBuildContext): tf.SymbolicTensor;
  /**
   * Optional: the parameters `build` creates for this feature map and class count, without
   * building. Makes the formula a head documents executable; the conformance kit
   * (`@headbench/testing`) checks it against the built model.
   */
  paramCount?(featureShape: FeatureShape, classes: number): number;
}

/** What a trainer's recipe is made for: one combination of the plan. */
export interface RecipeContext {
  /** The combination's learning rate (`--lr`): where the first stage starts. */
  lr: number;
  /** Epochs of the run; the stages' epochs add up to this. */
  epochs: number;
  /** Training steps per epoch (the last one may be a partial batch). */
  stepsPerEpoch: number;
}

/**
 * A stretch of epochs trained with one optimiser from fresh state, as one `model.compile` and
 * `fit` in Keras: the two-stage transfer recipe is two stages.
 */
export interface TrainingStage {
  epochs: number;
  /**
   * `all` trains every weight the model holds trainable; `head` freezes the backbone's layers
   * for the stage (their weights fixed, BatchNorm on its moving statistics, Keras' rule).
   */
  train: 'all' | 'head';
  /**
   * An update rule of the engine's `optimizerTranslators` (`{ name: 'adam', options }`): runs in
   * the one-graph step, with the learning rate fed at each step. Or a function making a tfjs
   * optimizer: it runs on the eager step at its own learning rate, and results say so.
   */
  optimizer: OptimizerSpec | (() => tf.Optimizer);
  /** The learning rate at each step of the stage, counted from 0 (a schedule); fed to the graph. */
  learningRate(step: number): number;
}

/** How a combination is trained: its stages, and the loss and data options they share. */
export interface TrainingRecipe {
  stages: readonly TrainingStage[];
  /** Keras' `CategoricalCrossentropy(label_smoothing)` (default 0). */
  labelSmoothing?: number;
  /** Random flips and zooms of each training batch, as graph ops, seeded from the row's seed. */
  augment?: AugmentOptions;
}

/**
 * A way of training: an optimiser with its options, a schedule, a loss, augmentation, stages.
 * The fit loop in core runs its recipe: epochs, evaluation, divergence, timings.
 */
export interface TrainerPlugin extends PluginBase<'trainer'> {
  /** The recipe for one combination; throws a UsageError for settings that cannot work (say, more frozen epochs than epochs). */
  recipe(context: RecipeContext): TrainingRecipe;
}

export type Plugin = BackbonePlugin | HeadPlugin | TrainerPlugin;
export type PluginOfKind<K extends PluginKind> = K extends 'backbone' ? BackbonePlugin : K extends 'head' ? HeadPlugin : TrainerPlugin;

/**
 * What a plugin package exports (as its default export): a function that makes the plugin from
 * options, and can be called with none.
 */
export type PluginFactory<P extends Plugin = Plugin> = (options?: Record<string, unknown>) => P;

/** Describes any value in a few words, for errors that say what was found instead of a plugin. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'function') return `a function${value.name ? ` named ${value.name}` : ''}`;
  if (typeof value === 'object') {
    const keys = Object.keys(value as object);
    return keys.length ? `an object with keys ${keys.slice(0, 6).join(', ')}` : 'an empty object';
  }
  return `${typeof value} ${JSON.stringify(value)}`;
}

/** Why `value` is not a plugin, or undefined if it is one. */
export function notAPlugin(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return describeValue(value);
  const meta = (value as { meta?: unknown }).meta;
  if (typeof meta !== 'object' || meta === null) return `${describeValue(value)} (no meta)`;
  const { name, version, kind } = meta as Record<string, unknown>;
  if (typeof name !== 'string' || !name) return 'an object whose meta has no name';
  if (typeof version !== 'string') return `plugin "${name}" without meta.version`;
  if (kind !== 'backbone' && kind !== 'head' && kind !== 'trainer') return `plugin "${name}" of unknown kind ${JSON.stringify(kind)}`;
  const needs = kind === 'backbone' ? ['featureShape', 'preprocess', 'build'] : kind === 'head' ? ['build'] : ['recipe'];
  const missing = needs.filter((k) => typeof (value as Record<string, unknown>)[k] !== 'function');
  if (missing.length) return `${kind} plugin "${name}" without ${missing.join(', ')}`;
  return undefined;
}
