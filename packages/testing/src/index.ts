/**
 * `@headbench/testing`: the conformance kit. Every check is a plain async function that
 * throws a ConformanceError naming the plugin, the check, what it found and what it expected;
 * `describeHeadConformance`, `describeBackboneConformance` and `describeTrainerConformance` register them as vitest tests.
 * vitest is an optional peer dependency of this package, needed only by those three.
 */
export { ConformanceError, checkMeta, checkOptions, NAME_PATTERN, SEMVER_PATTERN, type Check, type FactoryOf } from './shared.js';
export {
  checkHeadConformance,
  checkHeadInferenceGraph,
  checkHeadTrainingGraph,
  checkHeadNoLeak,
  checkHeadOutputShape,
  checkHeadParamCount,
  checkHeadSeeded,
  checkHeadSerialization,
  checkHeadTwiceInOneModel,
  checkHeadUnsupportedFeatures,
  DEFAULT_CLASSES,
  DEFAULT_FEATURE_SHAPES,
  HEAD_CHECKS,
  RANK_2_PROBE,
  type HeadConformanceOptions,
} from './head.js';
export {
  ALWAYS_UNSUPPORTED_INPUT_SIZES,
  BACKBONE_CHECKS,
  checkBackboneBuildTwice,
  checkBackboneConformance,
  checkBackboneFeatureShape,
  checkBackboneNoLeak,
  checkBackbonePreprocess,
  checkBackboneUnsupportedInputSizes,
  DEFAULT_INPUT_SIZES,
  type BackboneConformanceOptions,
} from './backbone.js';
export {
  checkTrainerConformance,
  checkTrainerFrozenBackbone,
  checkTrainerGraph,
  checkTrainerNoLeak,
  checkTrainerRecipe,
  checkTrainerSeeded,
  TRAINER_CHECKS,
  type TrainerConformanceOptions,
} from './trainer.js';
export { describeBackboneConformance, describeHeadConformance, describeHeadReference, describeTrainerConformance } from './vitest.js';
