export { median, quantile, summarize, tCritical95, type TimingStats } from './sample.js';
export { tQuantile, normalQuantile, normalCdf, chisquareQuantile } from './distributions.js';
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
