// @headbench/engine: how a tfjs-layers model runs fast on TensorFlow's native runtime. It knows
// nothing of benchmarks; @headbench/core builds on it.
export { tf, NATIVE_BACKEND, runtimeInfo, type RuntimeInfo } from './runtime.js';
export { setAcceleration, accelerationEnabled, fusedBatchNormTraining } from './accelerate.js';
export { kernelFixes } from './kernel-fixes.js';
export { cacheRoot } from './cache-root.js';
export { describeSignal, FAULT_SIGNALS } from './signals.js';
export { oneDnnState, type OneDnnState, type ChannelPair } from './onednn/state.js';
export { cpuIdentity, type CpuIdentity } from './onednn/machine.js';
export { multiplyAdds } from './multiply-adds.js';
export { Normalization, ScalarAdd, ScalarMultiply, HardSilu, Silu, GlobalAveragePooling2D, NORMALIZATION_EPSILON } from './layers.js';
export { createTrainStep, sgdConfig, type TrainStep, type TrainStepConfig } from './step.js';
export {
  optimizerTranslators,
  resolveOptimizer,
  applyOptimizer,
  clipByNorm,
  type Ops,
  type OptimizerOptions,
  type OptimizerSpec,
  type OptimizerTranslator,
  type ResolvedOptimizer,
  type UpdateArgs,
  type UpdateResult,
} from './optimizers.js';
export { eagerOps } from './eager-ops.js';
export { graphOps } from './graph/ops.js';
export { augments, augmentImages, buildAugmentGraph, type AugmentOptions, type AugmentGraph } from './graph/augment.js';
export { compileInference, buildInferenceGraph, type InferenceModel, type InferenceGraph } from './graph/inference.js';
export { writeSavedModel } from './graph/saved-model.js';
export { DEFAULT_PASSES, type InferencePasses, type PassReport } from './graph/fuse.js';
export { loadGraph, type GraphSession } from './graph/session.js';
export { trainTranslators, buildTrainGraph, type TrainTranslator, type TrainGraph, type TrainGraphOptions } from './graph/train.js';
export {
  layerTranslators,
  seedKey,
  UnsupportedLayerError,
  GraphBuilder,
  type LayerTranslator,
  type LayerContext,
  type GraphTensor,
} from './graph/translate.js';
