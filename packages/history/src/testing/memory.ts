import { storedNight, type HistoryData } from '../database.js';
import type { GeneratedNight } from './nights.js';

/** Generated nights as `readHistory` would return them after `history add` of each, without a database. */
export function inMemory(nights: readonly GeneratedNight[], testbed = 'testbed'): HistoryData {
  const parts = nights.map((n, i) => storedNight(n.results, { commit: n.commit, time: n.time, testbed }, i + 1));
  return { nights: parts.map((p) => p.night), rows: parts.flatMap((p) => p.rows), records: parts.flatMap((p) => p.records) };
}
