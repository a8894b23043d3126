// @headbench/results: what a run leaves behind and what is read back from it. The schema of
// results.json and its rows, the results folder (lock, atomic writes), groups over seeds and head
// comparisons computed from rows (the numbers come from @headbench/stats), the summary tables,
// `compare`, and the exports. It knows nothing of plugins or training: core's run loop fills rows.
export {
  environment,
  describeOneDnn,
  readResults,
  mergeResults,
  settingDifferences,
  withStatistics,
  baselineOf,
  RESULTS_SCHEMA,
  RESULTS_SCHEMA_VERSION,
  type Environment,
  type ResultsMode,
  type RunRecord,
  type RunResults,
} from './results.js';
export type { ResultRow, RowStatus } from './row.js';
export { DEFAULT_TRAINER, type ParamCounts, type EpochMetrics, type Engine, type Engines, type TrainingPath, type TaskTiming, type ModelBench } from './records.js';
export { lockFolder, LOCK_FILE, type FolderLock, type LockInfo } from './lock.js';
export { openResultsFolder, writeResults, writeTables, RESULT_FILES, type OpenResultsOptions, type ResultsFolder } from './results-folder.js';
export { GROUP_KEYS, GROUP_METRICS, groupId, groupRows, type Group, type GroupKey, type GroupMetric } from './groups.js';
export { compareHeads, pairRows, detectableOf, type ComparisonOptions, type Detectable, type HeadComparison, type PairOutcome, type SkippedComparison, type Split } from './comparisons.js';
export { SUMMARY_COLUMNS, summaryColumns, groupColumns, verdictColumns, formatSummary, renderSummary, summaryText, verdictSection, resultsCsv, type SummaryText } from './summary.js';
export { formatTable, formatCell, FORMATS, type Column, type Format } from './table.js';
export { compareResults, DEFAULT_THRESHOLDS, type CompareThresholds, type Comparison, type MetricComparison, type Verdict } from './compare.js';
export { toGab, type GabEntry } from './gab.js';
export { tensorboardLogger, tensorboardRunName, TENSORBOARD_INDEX, type TensorBoardEvent, type TensorBoardLogger } from './tensorboard.js';
