// Everything @headbench/history takes from the packages below it, in one place: the results
// schema and its rows (@headbench/results), per-image records and statistics helpers
// (@headbench/stats), and the errors users see (@headbench/errors).
export {
  readResults,
  mergeResults,
  describeOneDnn,
  groupId,
  DEFAULT_TRAINER,
  formatTable,
  type Column,
  type RunResults,
  type ResultRow,
  type Environment,
} from '@headbench/results';
export { decodeCorrect, encodeCorrect, tQuantile, median, seededRandom, deriveSeed, type CorrectnessRecord } from '@headbench/stats';
export { UsageError, writeFileAtomic, makeFolder, explainFileErrors } from '@headbench/errors';
