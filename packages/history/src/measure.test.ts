import { describe, expect, it } from 'vitest';
import { checkHistory } from './check.js';
import { generateNights, threeSeeds } from './testing/nights.js';
import { inMemory } from './testing/memory.js';

/**
 * The numbers of the README's "How check decides": false alarms on noise-only histories and the
 * smallest planted shifts found. Minutes of work, so only when asked:
 *
 *   cd packages/history && HEADBENCH_MEASURE=1 npx vitest run src/measure.test.ts
 */
const runs = Number(process.env['HEADBENCH_MEASURE'] ?? 0);
const base = threeSeeds();

describe.runIf(runs > 0)('measured', () => {
  it('false alarms in 40 nights of noise alone', { timeout: 1_800_000 }, () => {
    const histories = Math.max(runs, 200);
    let alarmed = 0;
    let changes = 0;
    for (let s = 1; s <= histories; s++) {
      const found = checkHistory(inMemory(generateNights(base, { nights: 40, seed: 5000 + s }))).changes.length;
      changes += found;
      if (found) alarmed++;
    }
    console.log(`noise only: ${alarmed} of ${histories} histories (12 series each) listed a change; ${changes} changes in all`);
    expect(alarmed / histories).toBeLessThanOrEqual(0.05);
  });

  it('the smallest shifts found', { timeout: 1_800_000 }, () => {
    const histories = Math.max(runs, 20);
    const rate = (options: Parameters<typeof generateNights>[1], head: string, metric: string, at: number) => {
      let found = 0;
      for (let s = 1; s <= histories; s++) {
        const { changes } = checkHistory(inMemory(generateNights(base, { ...options, seed: 9000 + s })));
        if (changes.some((c) => c.head === head && c.metric === metric && c.direction === 'worse' && Math.abs(c.night - at) <= 1)) found++;
      }
      return found / histories;
    };
    const lines: string[] = [];
    const drops: Record<number, number> = {};
    for (const points of [1, 2, 3, 4, 5, 7]) {
      drops[points] = rate({ nights: 40, drop: { head: 'flatten', from: 25, points } }, 'flatten', 'finalValAccuracy', 25);
      lines.push(`accuracy drop of ${points} points from night 25: found at night 24-26 in ${(100 * drops[points]!).toFixed(0)}% of ${histories}`);
    }
    const steps: Record<number, number> = {};
    for (const factor of [1.02, 1.04, 1.06, 1.08, 1.1, 1.35]) {
      steps[factor] = rate({ nights: 40, slowdown: { head: 'gmp', from: 30, factor } }, 'gmp', 'medianStepMs', 30);
      lines.push(`step time x${factor} from night 30: found at night 29-31 in ${(100 * steps[factor]!).toFixed(0)}% of ${histories}`);
    }
    console.log(lines.join('\n'));
    expect(drops[7]).toBeGreaterThanOrEqual(0.9);
    expect(steps[1.35]).toBeGreaterThanOrEqual(0.9);
  });
});
