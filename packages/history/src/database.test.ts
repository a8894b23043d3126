import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addNight, History, prepareNight, readHistory } from './database.js';
import { generateNights, inMemory, threeSeeds } from './testing/index.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-history-db-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('the history database', () => {
  it('reads back what it stored, nights in time order, whatever order they were added in', async () => {
    const nights = generateNights(threeSeeds(), { nights: 4 });
    const file = path.join(tmp, 'roundtrip.duckdb');
    const history = await History.open(file, 'create');
    try {
      for (const n of [nights[2]!, nights[0]!, nights[3]!, nights[1]!]) await addNight(history, prepareNight([{ file: 'x', results: n.results }], { commit: n.commit, time: n.time, testbed: 'epyc' }));
      const data = await readHistory(history);
      const expected = inMemory(nights, 'epyc');
      // Night numbers are the order of adding; everything else is what the results said.
      const number = new Map(data.nights.map((n) => [n.commit, n.night]));
      expect(data.nights.map((n) => n.commit)).toEqual(['c001', 'c002', 'c003', 'c004']);
      expect(data.nights.map((n) => n.night)).toEqual([2, 4, 1, 3]);
      // inMemory numbers night i + 1 the i-th generated night (commit c00<i + 1>).
      const renumber = <T extends { night: number }>(x: T) => ({ ...x, night: number.get(nights[x.night - 1]!.commit)! });
      expect(data.nights).toEqual(expected.nights.map(renumber));
      const key = (r: { night: number; id: string }) => `${r.night}|${r.id}`;
      const sort = <T extends { night: number; id: string }>(a: T[]) => [...a].sort((x, y) => key(x).localeCompare(key(y)));
      expect(sort(data.rows)).toEqual(sort(expected.rows.map(renumber)));
      const recordKey = (r: { night: number; rowId: string; split: string }) => `${r.night}|${r.rowId}|${r.split}`;
      expect(data.records.map(recordKey).sort()).toEqual(expected.records.map(renumber).map(recordKey).sort());
      expect(data.records.map((r) => r.correct).sort()).toEqual(expected.records.map((r) => r.correct).sort());
    } finally {
      history.close();
    }
  });

  it('refuses other rows under the commit, time and testbed of a stored night', async () => {
    const [a, b] = generateNights(threeSeeds(), { nights: 2 });
    const history = await History.open(path.join(tmp, 'clash.duckdb'), 'create');
    try {
      await addNight(history, prepareNight([{ file: 'a', results: a!.results }], { commit: 'same', time: a!.time, testbed: 't' }));
      await expect(addNight(history, prepareNight([{ file: 'b', results: b!.results }], { commit: 'same', time: a!.time, testbed: 't' }))).rejects.toThrow(
        `night 1 (commit same, ${a!.time}, testbed t) is already stored with other results; a night is added once: give this one its own --time or --commit`,
      );
    } finally {
      history.close();
    }
  });
});
