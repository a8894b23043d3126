export { tf, NATIVE_BACKEND, runtimeInfo } from './runtime.js';
export { UsageError } from './errors.js';
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
} from './plugin.js';
export { defineBackbone, defineHead, type BackboneDefinition, type HeadDefinition } from './define.js';
export { PluginRegistry, importPluginModule } from './registry.js';
export { composeModel, countParams, type ComposedModel, type ComposeOptions, type ParamCounts } from './compose.js';
export { plan, parseShard, shardOf, combinationId, type Combination, type PlanAxes, type Shard } from './planner.js';
