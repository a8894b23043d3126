import { describe, expect, it } from 'vitest';
import { achievedGflops, cpuPeak, cpuPeakFrom } from './hardware.js';

const block = (processor: number, fields: Record<string, string>) =>
  [`processor\t: ${processor}`, ...Object.entries(fields).map(([k, v]) => `${k}\t: ${v}`)].join('\n');

describe('CPU peak estimate', () => {
  it('multiplies cores, clock, vector lanes, FMA and the assumed two FMA units', () => {
    // This project's machine: 2 cores of an AMD EPYC with AVX2 and FMA at 2445.406 MHz.
    const info = [0, 1].map((i) => block(i, { 'model name': 'AMD EPYC', 'cpu MHz': '2445.406', 'physical id': '0', 'core id': String(i), flags: 'fpu sse sse2 fma avx avx2 bmi2' })).join('\n\n');
    const peak = cpuPeakFrom(`${info}\n`, 2);
    expect(peak).toMatchObject({ cores: 2, vector: { isa: 'avx2', fp32Lanes: 8 }, fma: true, fmaUnits: 2, mhz: 2445.406 });
    expect(peak.gflops).toBeCloseTo((2 * 2445.406 * 8 * 2 * 2) / 1000, 6);
    expect(peak.formula).toMatch(/^2 cores x 2\.445 GHz x 8 fp32 lanes \(avx2\) x 2 \(FMA\) x 2 FMA units per core \(assumed\) = 156\.5 GFLOP\/s/);
  });

  it('counts physical cores, not hyperthreads, and takes AVX-512 as 16 lanes', () => {
    const info = [0, 1, 2, 3].map((i) => block(i, { 'cpu MHz': i === 2 ? '3000.000' : '2000.000', 'physical id': '0', 'core id': String(i % 2), flags: 'sse2 avx avx2 fma avx512f' })).join('\n\n');
    const peak = cpuPeakFrom(info, 4);
    expect(peak.cores).toBe(2);
    expect(peak.vector).toEqual({ isa: 'avx512f', fp32Lanes: 16 });
    // The highest clock listed.
    expect(peak.gflops).toBeCloseTo((2 * 3000 * 16 * 2 * 2) / 1000, 6);
  });

  it('without FMA, a multiply and an add per cycle', () => {
    const peak = cpuPeakFrom(block(0, { 'cpu MHz': '3000', flags: 'sse2 avx' }), 1);
    expect(peak.gflops).toBeCloseTo((1 * 3000 * 8 * 2) / 1000, 6);
    expect(peak.formula).toContain('1 logical CPUs (no core topology listed)');
  });

  it('says what it could not read instead of guessing', () => {
    // An ARM machine's /proc/cpuinfo: Features instead of flags, no clock.
    const peak = cpuPeakFrom([0, 1].map((i) => block(i, { BogoMIPS: '50.00', Features: 'fp asimd evtstrm' })).join('\n\n'), 2);
    expect(peak.gflops).toBeUndefined();
    expect(peak.formula).toBe("peak not estimated: /proc/cpuinfo has no vector extension in its flags and no 'cpu MHz'");
    const noClock = cpuPeakFrom(block(0, { flags: 'sse2 avx2 fma' }), 1);
    expect(noClock.formula).toBe("peak not estimated: /proc/cpuinfo has no 'cpu MHz'");
  });

  it('reads this machine', () => {
    const peak = cpuPeak();
    expect(peak.cores).toBeGreaterThan(0);
    expect(peak.formula.length).toBeGreaterThan(10);
  });
});

describe('achieved GFLOP/s', () => {
  it('counts two FLOPs per multiply-add, and passes for a training step', () => {
    // 300 M multiply-adds an image, 32 images in 150 ms: 2 * 300e6 * 32 / 0.15 s = 128 GFLOP/s.
    expect(achievedGflops(300e6, 32, 150)).toBeCloseTo(128, 9);
    expect(achievedGflops(300e6, 32, 450, 3)).toBeCloseTo(128, 9);
  });
});
