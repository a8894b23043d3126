// Everything @headbench/history takes from @headbench/core, in one place: the results schema and
// its rows, per-image records, statistics helpers and the error users see. When core is split
// (results, stats, data), only these lines change.
export {
  readResults,
  mergeResults,
  describeOneDnn,
  UsageError,
  writeFileAtomic,
  makeFolder,
  explainFileErrors,
  type RunResults,
  type ResultRow,
  type Environment,
} from '@headbench/core';
export { decodeCorrect, encodeCorrect, tQuantile, median, groupId, type CorrectnessRecord } from '@headbench/core';
export { seededRandom, deriveSeed, DEFAULT_TRAINER, formatTable, type Column } from '@headbench/core';
