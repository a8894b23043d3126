// @headbench/stats: the statistics as functions of numbers and bitsets. It knows nothing of result
// rows or files: @headbench/results groups rows and pairs them, then asks these functions.
export { median, quantile, summarize, tCritical95, describeValues, type MetricSummary, type TimingStats } from './sample.js';
export { tQuantile, normalQuantile, normalCdf, chisquareQuantile } from './distributions.js';
export { seededRandom, shuffledIndices, deriveSeed } from './random.js';
export { correctnessRecord, decodeCorrect, encodeCorrect, fingerprintOf, type CorrectnessRecord } from './correctness.js';
export {
  pairedDifference,
  accuracyDifference,
  verdictOf,
  power,
  detectableDifference,
  seedsNeeded,
  twoWay,
  DEFAULT_RESAMPLES,
  DETECTION_POWER,
  type DifferenceEstimate,
  type PairedVerdict,
  type PerImageInput,
  type SeedsNeeded,
} from './paired.js';
