import type { tf } from './runtime.js';
import { resolveOptions, type OptionsSchema, type ResolvedOptions, type UserOptions } from './options.js';
import type { Backbone, BackboneBuildContext, BackbonePlugin, FeatureShape, HeadBuildContext, HeadPlugin, PluginMeta } from './plugin.js';

export interface HeadDefinition<S extends OptionsSchema> {
  meta: Omit<PluginMeta<'head'>, 'kind'>;
  schema: S;
  build(features: tf.SymbolicTensor, context: HeadBuildContext, options: ResolvedOptions<S>): tf.SymbolicTensor;
}

/**
 * Makes a head's factory: `gap()` or `gap({ ... })` returns the plugin, with its options checked
 * against the schema (the same checks the command line gets).
 */
export function defineHead<S extends OptionsSchema>(definition: HeadDefinition<S>): (options?: UserOptions<S>) => HeadPlugin {
  return (given) => {
    const options = resolveOptions(definition.meta.name, definition.schema, given);
    return {
      meta: { ...definition.meta, kind: 'head' },
      schema: definition.schema,
      options,
      build: (features, context) => definition.build(features, context, options),
    };
  };
}

export interface BackboneDefinition<S extends OptionsSchema> {
  meta: Omit<PluginMeta<'backbone'>, 'kind'>;
  schema: S;
  featureShape(inputSize: number, options: ResolvedOptions<S>): FeatureShape;
  preprocess(images: tf.Tensor4D, options: ResolvedOptions<S>): tf.Tensor4D;
  build(context: BackboneBuildContext, options: ResolvedOptions<S>): Promise<Backbone>;
}

export function defineBackbone<S extends OptionsSchema>(definition: BackboneDefinition<S>): (options?: UserOptions<S>) => BackbonePlugin {
  return (given) => {
    const options = resolveOptions(definition.meta.name, definition.schema, given);
    return {
      meta: { ...definition.meta, kind: 'backbone' },
      schema: definition.schema,
      options,
      featureShape: (inputSize) => definition.featureShape(inputSize, options),
      preprocess: (images) => definition.preprocess(images, options),
      build: (context) => definition.build(context, options),
    };
  };
}
