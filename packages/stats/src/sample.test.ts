import { describe, expect, it } from 'vitest';
import { median, quantile, summarize, tCritical95 } from './sample.js';

describe('statistics on known samples', () => {
  it('median and quantiles interpolate as numpy does', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.99)).toBeCloseTo(9.91, 10);
    expect(median([])).toBeNaN();
  });

  it('summarize gives mean, sample sd and the 95% relative margin of error', () => {
    // numpy: mean 5, std(ddof=1) 2.138089935299395; scipy t.ppf(0.975, 7) = 2.364624251592785; sem = sd / sqrt(8)
    const s = summarize([2, 4, 4, 4, 5, 5, 7, 9]);
    expect(s.mean).toBe(5);
    expect(s.sd).toBeCloseTo(2.138089935299395, 12);
    expect(s.rme).toBeCloseTo((100 * 2.364624251592785 * (2.138089935299395 / Math.sqrt(8))) / 5, 10);
    expect([s.min, s.max, s.p50]).toEqual([2, 9, 4.5]);
    expect(summarize([7]).sd).toBe(0);
  });

  it('uses Student t critical values, approaching 1.96', () => {
    // scipy.stats.t.ppf(0.975, df)
    expect(tCritical95(1)).toBeCloseTo(12.706204736174694, 9);
    expect(tCritical95(30)).toBeCloseTo(2.0422724563012373, 9);
    expect(tCritical95(60)).toBeCloseTo(2.0002978220142578, 9);
    expect(tCritical95(1e6)).toBeCloseTo(1.96, 3);
  });
});
