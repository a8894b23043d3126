import type { tf } from '@headbench/engine';
import type { OptionsSchema, OptionValue } from './options.js';

export type PluginKind = 'backbone' | 'head';

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
   * (`@headbench/core/testing`) checks it against the built model.
   */
  paramCount?(featureShape: FeatureShape, classes: number): number;
}

export type Plugin = BackbonePlugin | HeadPlugin;
export type PluginOfKind<K extends PluginKind> = K extends 'backbone' ? BackbonePlugin : HeadPlugin;

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
  if (kind !== 'backbone' && kind !== 'head') return `plugin "${name}" of unknown kind ${JSON.stringify(kind)}`;
  const needs = kind === 'backbone' ? ['featureShape', 'preprocess', 'build'] : ['build'];
  const missing = needs.filter((k) => typeof (value as Record<string, unknown>)[k] !== 'function');
  if (missing.length) return `${kind} plugin "${name}" without ${missing.join(', ')}`;
  return undefined;
}
