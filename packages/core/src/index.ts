export { tf, NATIVE_BACKEND, runtimeInfo, type OptimizerSpec, type AugmentOptions } from '@headbench/engine';
// Keras layers tfjs lacks, for backbone plugins (each has graph translations in the engine).
export { Normalization, ScalarAdd, ScalarMultiply, HardSilu, Silu, GlobalAveragePooling2D } from '@headbench/engine';
// The engine's translation tables, for plugins (which depend on core alone) that bring a layer or
// an optimiser of their own.
export {
  layerTranslators,
  trainTranslators,
  optimizerTranslators,
  type LayerTranslator,
  type TrainTranslator,
  type OptimizerTranslator,
  type Ops,
  type UpdateArgs,
  type UpdateResult,
} from '@headbench/engine';
// A plugin's one import: its contracts and define*, the engine's tf and translation tables above,
// and UsageError, which the CLI prints as one line.
export { UsageError } from '@headbench/errors';
export {
  resolveOptions,
  coerceOptionStrings,
  parseSpecifier,
  formatSpecifier,
  type OptionSpec,
  type OptionsSchema,
  type OptionValue,
  type ResolvedOptions,
  type UserOptions,
  type PluginSpecifier,
} from './options.js';
export {
  describeValue,
  notAPlugin,
  type Backbone,
  type BackboneBuildContext,
  type BackbonePlugin,
  type FeatureShape,
  type HeadBuildContext,
  type HeadPlugin,
  type Plugin,
  type PluginFactory,
  type PluginKind,
  type PluginMeta,
  type PluginOfKind,
  type RecipeContext,
  type TrainerPlugin,
  type TrainingRecipe,
  type TrainingStage,
} from './plugin.js';
export { defineBackbone, defineHead, defineTrainer, type BackboneDefinition, type HeadDefinition, type TrainerDefinition } from './define.js';
export { PluginRegistry, importPluginModule } from './registry.js';
export { composeModel, countParams, type ComposedModel, type ComposeOptions } from './compose.js';
export { plan, parseShard, shardOf, combinationId, type Combination, type PlanAxes, type Shard, type TrainerAxis } from './planner.js';
export { fitModel, checkRecipe, freeze, stageStepConfig, evaluate, type Evaluation, type FeatureSource, type TrainData, type TrainOptions, type TrainOutcome, type TrainProgress } from './trainer.js';
export { FeatureCache, headOnly, backboneChanges, weightsHash, type FeatureCacheOptions, type FeatureEvent, type HeadOnly, type SplitFeatures } from './features.js';
export { runPlan, type RunEvent, type RunOptions, type RunSettings } from './run.js';
export { timeTask, benchModel, type TimingOptions, type ModelBenchOptions } from './bench.js';
export { cpuPeak, cpuPeakFrom, achievedGflops, type CpuPeak } from './hardware.js';
