export { History, addNight, prepareNight, readNight, readHistory, storedNight, contentKey, DEFAULT_DATABASE, HISTORY_SCHEMA, HISTORY_SCHEMA_VERSION } from './database.js';
export type { AddOutcome, HistoryData, NightInput, NightMeta, PreparedNight, StoredNight, StoredRecord, StoredRow } from './database.js';
export { checkHistory, METRICS, type Change, type CheckOptions, type CheckResult, type Metric } from './check.js';
export { historyReport, type CellHistory, type CellNight, type HistoryReport, type NightPoint } from './report-data.js';
export { eDivisive, permutationPValue, benjaminiHochberg, splitSegment, shiftEstimate, imageShift, type NightValue, type ShiftEstimate, type ImageShift, type SplitPoint } from './changes.js';
export { checkText, CHANGE_COLUMNS } from './text.js';
