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
export { GROUP_KEYS, GROUP_METRICS, groupId, groupRows, describe as describeValues, type Group, type GroupKey, type GroupMetric, type MetricSummary } from './groups.js';
export { compareHeads, pairRows, detectableOf, type ComparisonOptions, type Detectable, type HeadComparison, type PairOutcome, type SkippedComparison, type Split } from './comparisons.js';
