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
export { UsageError } from './errors.js';
export { fileSystemError, explainFileErrors, makeFolder, systemErrorCode } from './files.js';
export { lockFolder, LOCK_FILE, type FolderLock, type LockInfo } from './lock.js';
export { openResultsFolder, type OpenResultsOptions, type ResultsFolder } from './results-folder.js';
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
export { composeModel, countParams, type ComposedModel, type ComposeOptions, type ParamCounts } from './compose.js';
export { plan, parseShard, shardOf, combinationId, DEFAULT_TRAINER, type Combination, type PlanAxes, type Shard, type TrainerAxis } from './planner.js';
export { seededRandom, shuffledIndices, deriveSeed } from './random.js';
export type { DatasetEvent, ImageDataset, ImageSplit, SkippedFile, Storage } from './data/dataset.js';
export { syntheticDataset, type SyntheticOptions } from './data/synthetic.js';
export { imageFolderDataset, listImageFolder, DEFAULT_MEMORY_BUDGET, type ImageFolderOptions } from './data/image-folder.js';
export { batches, batchTensors, type ImageBatch } from './data/batches.js';
export { decodeResize, INTERPOLATIONS, type Interpolation } from './data/decode.js';
export { cacheRoot, imageCacheDir, listImageCache, clearImageCache, formatBytes, CACHE_VERSION, type CacheEntry } from './data/image-cache.js';
export { parseSize } from './data/size.js';
export { fitModel, checkRecipe, freeze, stageStepConfig, evaluate, type Evaluation, type Engine, type Engines, type TrainData, type TrainOptions, type TrainOutcome, type TrainProgress, type EpochMetrics } from './trainer.js';
export {
  environment,
  describeOneDnn,
  readResults,
  mergeResults,
  settingDifferences,
  writeFileAtomic,
  withStatistics,
  baselineOf,
  RESULTS_SCHEMA,
  RESULTS_SCHEMA_VERSION,
  type Environment,
  type ResultRow,
  type RowStatus,
  type ResultsMode,
  type RunRecord,
  type RunResults,
} from './results.js';
export { runPlan, writeResults, RESULT_FILES, type RunEvent, type RunOptions, type RunSettings } from './run.js';
export { SUMMARY_COLUMNS, summaryColumns, groupColumns, verdictColumns, formatSummary, renderSummary, summaryText, verdictSection, resultsCsv, type SummaryText } from './summary.js';
export { formatTable, formatCell, FORMATS, type Column, type Format } from './table.js';
export * from './stats/index.js';
export { timeTask, benchModel, type TaskTiming, type TimingOptions, type ModelBench, type ModelBenchOptions } from './bench.js';
export { cpuPeak, cpuPeakFrom, achievedGflops, type CpuPeak } from './hardware.js';
export { compareResults, DEFAULT_THRESHOLDS, type CompareThresholds, type Comparison, type MetricComparison, type Verdict } from './compare.js';
export { toGab, type GabEntry } from './gab.js';
export { tensorboardLogger, tensorboardRunName, TENSORBOARD_INDEX, type TensorBoardLogger } from './tensorboard.js';
