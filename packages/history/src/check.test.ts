import { describe, expect, it } from 'vitest';
import { checkHistory, type Change } from './check.js';
import { generateNights, threeSeeds } from './testing/nights.js';
import { inMemory } from './testing/memory.js';

const base = threeSeeds();
const at = (changes: Change[], head: string, metric: Change['metric']) => changes.filter((c) => c.head === head && c.metric === metric);

describe('history check on nights generated from a real 3-seed run', () => {
  it('finds a 7-point drop of one head from night 25 and a 1.35x step of another from night 30, worse, and nothing else', () => {
    const nights = generateNights(base, { nights: 40, drop: { head: 'flatten', from: 25, points: 7 }, slowdown: { head: 'gmp', from: 30, factor: 1.35 } });
    const { changes, series } = checkHistory(inMemory(nights));
    expect(series).toBe(12); // 3 heads x 4 metrics, one testbed
    const drop = at(changes, 'flatten', 'finalValAccuracy');
    expect(drop).toHaveLength(1);
    expect(Math.abs(drop[0]!.night - 25)).toBeLessThanOrEqual(1);
    expect(drop[0]).toMatchObject({ direction: 'worse', commit: `c0${drop[0]!.night}` });
    expect(drop[0]!.change).toBeGreaterThan(-0.1);
    expect(drop[0]!.change).toBeLessThan(-0.04);
    expect(drop[0]!.interval[1]).toBeLessThan(0);
    // The images that flipped: the 14 planted (7% of 200), right in every seed before.
    expect(drop[0]!.images!.worse.length).toBeGreaterThanOrEqual(12);
    const step = at(changes, 'gmp', 'medianStepMs');
    expect(step).toHaveLength(1);
    expect(Math.abs(step[0]!.night - 30)).toBeLessThanOrEqual(1);
    expect(step[0]!.direction).toBe('worse');
    expect(step[0]!.interval[0]).toBeGreaterThan(1.2);
    expect(step[0]!.interval[1]).toBeLessThan(1.5);
    expect(changes.filter((c) => c.head === 'gap')).toEqual([]);
    expect(changes.filter((c) => c.head === 'gmp' && c.metric !== 'medianStepMs')).toEqual([]);
    expect(changes.filter((c) => c.head === 'flatten' && c.metric !== 'finalValAccuracy' && c.metric !== 'testAccuracy')).toEqual([]);
    // Found before tonight: not new.
    expect(changes.every((c) => !c.new)).toBe(true);
  });

  it('marks a change the newest night revealed as new', () => {
    // A slowdown from night 37: with 40 nights it is found, with 39 (two nights after it) not yet or at once.
    const nights = generateNights(base, { nights: 40, slowdown: { head: 'gap', from: 38, factor: 1.6 } });
    const result = checkHistory(inMemory(nights));
    const step = at(result.changes, 'gap', 'medianStepMs');
    expect(step).toHaveLength(1);
    expect(step[0]!.night).toBe(38);
    expect(step[0]!.new).toBe(true);
    expect(checkHistory(inMemory(nights.slice(0, 39))).changes).toEqual([]);
  });

  it('lists no change in 40 nights of noise alone, in at least 95 of 100 histories', () => {
    let alarms = 0;
    for (let s = 1; s <= 100; s++) if (checkHistory(inMemory(generateNights(base, { nights: 40, seed: 1000 + s }))).changes.length) alarms++;
    expect(alarms).toBeLessThanOrEqual(5);
  });

  it('times only within one testbed', () => {
    const nights = generateNights(base, { nights: 20 });
    const a = inMemory(nights.slice(0, 10), 'small-runner');
    const b = inMemory(nights.slice(10), 'big-runner');
    // The second testbed is twice as fast: not a change, another series.
    for (const r of b.rows) {
      if (r.medianStepMs) r.medianStepMs /= 2;
      r.night += 10;
    }
    for (const n of b.nights) n.night += 10;
    for (const r of b.records) r.night += 10;
    const result = checkHistory({ nights: [...a.nights, ...b.nights], rows: [...a.rows, ...b.rows], records: [...a.records, ...b.records] });
    expect(result.series).toBe(3 * 2 + 3 * 2 * 2);
    expect(result.changes).toEqual([]);
  });
});
