// @headbench/engine: how a tfjs-layers model runs fast on TensorFlow's native runtime. It knows
// nothing of benchmarks; @headbench/core builds on it.
export { tf, NATIVE_BACKEND, runtimeInfo, type RuntimeInfo } from './runtime.js';
export { setAcceleration, accelerationEnabled, fusedBatchNormTraining } from './accelerate.js';
export { kernelFixes } from './kernel-fixes.js';
export { multiplyAdds } from './multiply-adds.js';
export { Normalization, ScalarAdd, ScalarMultiply, HardSilu, Silu, GlobalAveragePooling2D, NORMALIZATION_EPSILON } from './layers.js';
export { createTrainStep, sgdOptimizer, type TrainStep } from './step.js';
export { compileInference, buildInferenceGraph, type InferenceModel, type InferenceGraph } from './graph/inference.js';
export { writeSavedModel } from './graph/saved-model.js';
export { DEFAULT_PASSES, type InferencePasses, type PassReport } from './graph/fuse.js';
export { trainTranslators, buildTrainGraph, type TrainTranslator } from './graph/train.js';
export {
  layerTranslators,
  UnsupportedLayerError,
  type LayerTranslator,
  type LayerContext,
  type GraphBuilder,
} from './graph/translate.js';
