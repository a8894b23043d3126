import type { tf } from '@headbench/engine';
import { UsageError } from '@headbench/errors';
import { resolveOptions, type OptionsSchema, type ResolvedOptions, type UserOptions } from './options.js';
import type { Backbone, BackboneBuildContext, BackbonePlugin, FeatureShape, HeadBuildContext, HeadPlugin, PluginMeta, RecipeContext, TrainerPlugin, TrainingRecipe } from './plugin.js';

export interface HeadDefinition<S extends OptionsSchema> {
  meta: Omit<PluginMeta<'head'>, 'kind'>;
  schema: S;
  build(features: tf.SymbolicTensor, context: HeadBuildContext, options: ResolvedOptions<S>): tf.SymbolicTensor;
  paramCount?(featureShape: FeatureShape, classes: number, options: ResolvedOptions<S>): number;
}

/**
 * Makes a head's factory: `gap()` or `gap({ ... })` returns the plugin, with its options checked
 * against the schema (the same checks the command line gets).
 */
export function defineHead<S extends OptionsSchema>(definition: HeadDefinition<S>): (options?: UserOptions<S>) => HeadPlugin {
  const count = definition.paramCount?.bind(definition);
  return (given) => {
    const options = resolveOptions(definition.meta.name, definition.schema, given);
    return {
      meta: { ...definition.meta, kind: 'head' },
      schema: definition.schema,
      options,
      build: (features, context) => {
        // The contract gives heads rank-4 features; refused here, by name, before a tfjs layer
        // fails somewhere inside with a message that does not say which head.
        if (features.shape.length !== 4) {
          throw new UsageError(`${definition.meta.name}: expects features [batch, height, width, channels], got [${features.shape.map((d) => d ?? 'batch').join(', ')}]`);
        }
        return definition.build(features, context, options);
      },
      // Only present when defined, so that `'paramCount' in head` says whether a head offers it.
      ...(count && { paramCount: (featureShape: FeatureShape, classes: number) => count(featureShape, classes, options) }),
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

export interface TrainerDefinition<S extends OptionsSchema> {
  meta: Omit<PluginMeta<'trainer'>, 'kind'>;
  schema: S;
  /** The recipe for one combination, from its learning rate, epochs and steps per epoch. */
  recipe(context: RecipeContext, options: ResolvedOptions<S>): TrainingRecipe;
}

/**
 * Makes a trainer's factory: `adam()` or `adam({ schedule: 'cosine' })` returns the plugin, with
 * its options checked against the schema as for heads and backbones.
 */
export function defineTrainer<S extends OptionsSchema>(definition: TrainerDefinition<S>): (options?: UserOptions<S>) => TrainerPlugin {
  return (given) => {
    const options = resolveOptions(definition.meta.name, definition.schema, given);
    return {
      meta: { ...definition.meta, kind: 'trainer' },
      schema: definition.schema,
      options,
      recipe: (context) => definition.recipe(context, options),
    };
  };
}
