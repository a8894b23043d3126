import fs from 'node:fs';
import os from 'node:os';

/**
 * An estimate of the CPU's peak float32 arithmetic, from what Linux says about it in
 * /proc/cpuinfo: the widest vector extension in `flags` (avx512f 16 lanes, avx/avx2 8, sse 4),
 * whether it has FMA, the clock (`cpu MHz`) and the physical cores (distinct `physical id` and
 * `core id`). The number of vector FMA units per core cannot be read: the estimate assumes two
 * (as on Intel since Haswell and AMD since Zen 2) and says so. The clock is the one the kernel
 * reports, in a VM often the nominal clock; a CPU that boosts above it has a higher real peak,
 * so the share of peak is an upper bound there.
 */
export interface CpuPeak {
  /** Physical cores counted (logical CPUs where the topology is not listed). */
  cores: number;
  /** The widest vector extension found and its float32 lanes. */
  vector?: { isa: string; fp32Lanes: number };
  fma: boolean;
  /** Assumed vector units per core that can each issue one FMA (or one multiply and one add) a cycle. */
  fmaUnits: number;
  mhz?: number;
  /** Peak GFLOP/s, where the clock and vector width could be read. */
  gflops?: number;
  /** How `gflops` was computed, or what could not be read. */
  formula: string;
}

const ASSUMED_FMA_UNITS = 2;

/** Parses /proc/cpuinfo text (exported for tests). */
export function cpuPeakFrom(cpuinfo: string, logicalCpus: number): CpuPeak {
  const blocks = cpuinfo.split(/\n\s*\n/).filter((b) => /^processor\s*:/m.test(b));
  const field = (block: string, name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(block)?.[1]?.trim();
  const flags = new Set((blocks.map((b) => field(b, 'flags')).find((f) => f) ?? '').split(/\s+/));
  const mhzValues = blocks.map((b) => Number(field(b, 'cpu MHz'))).filter((v) => Number.isFinite(v) && v > 0);
  const mhz = mhzValues.length > 0 ? Math.max(...mhzValues) : undefined;
  const physical = new Set(blocks.map((b) => (field(b, 'physical id') !== undefined && field(b, 'core id') !== undefined ? `${field(b, 'physical id')}/${field(b, 'core id')}` : undefined)).filter((k) => k));
  const topology = physical.size > 0;
  const cores = topology ? physical.size : blocks.length || logicalCpus;
  const vector = flags.has('avx512f') ? { isa: 'avx512f', fp32Lanes: 16 } : flags.has('avx2') ? { isa: 'avx2', fp32Lanes: 8 } : flags.has('avx') ? { isa: 'avx', fp32Lanes: 8 } : flags.has('sse2') ? { isa: 'sse2', fp32Lanes: 4 } : undefined;
  const fma = flags.has('fma');
  const coreText = `${cores} ${topology ? 'cores' : 'logical CPUs (no core topology listed)'}`;
  if (!vector || mhz === undefined) {
    const missing = [!vector ? 'no vector extension in its flags' : '', mhz === undefined ? "no 'cpu MHz'" : ''].filter(Boolean).join(' and ');
    return { cores, fma, fmaUnits: ASSUMED_FMA_UNITS, ...(vector ? { vector } : {}), ...(mhz !== undefined ? { mhz } : {}), formula: `peak not estimated: /proc/cpuinfo has ${missing}` };
  }
  // An FMA is two floating-point operations; without FMA, a multiply and an add issue side by side.
  const units = fma ? ASSUMED_FMA_UNITS : 1;
  const gflops = (cores * mhz * vector.fp32Lanes * 2 * units) / 1000;
  const formula = fma
    ? `${coreText} x ${(mhz / 1000).toFixed(3)} GHz x ${vector.fp32Lanes} fp32 lanes (${vector.isa}) x 2 (FMA) x ${units} FMA units per core (assumed) = ${gflops.toFixed(1)} GFLOP/s; clock from /proc/cpuinfo (in a VM often the nominal clock: a CPU that boosts has a higher real peak)`
    : `${coreText} x ${(mhz / 1000).toFixed(3)} GHz x ${vector.fp32Lanes} fp32 lanes (${vector.isa}) x 2 (a multiply and an add per cycle, no FMA) = ${gflops.toFixed(1)} GFLOP/s; clock from /proc/cpuinfo`;
  return { cores, vector, fma, fmaUnits: units, mhz, gflops, formula };
}

/** This machine's peak estimate; on systems without /proc/cpuinfo, a formula that says so. */
export function cpuPeak(): CpuPeak {
  let text: string;
  try {
    text = fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return { cores: os.cpus().length, fma: false, fmaUnits: ASSUMED_FMA_UNITS, formula: `peak not estimated: /proc/cpuinfo is not readable on ${process.platform}` };
  }
  return cpuPeakFrom(text, os.cpus().length);
}

/**
 * Achieved GFLOP/s of a pass that takes `multiplyAdds` per image: 2 FLOPs per multiply-add,
 * `images` images in `ms` milliseconds. A training step counts 3 forward passes (the forward, the
 * input gradient and the weight gradient each cost about one), so pass `passes: 3` for it.
 */
export function achievedGflops(multiplyAdds: number, images: number, ms: number, passes = 1): number {
  return (2 * multiplyAdds * images * passes) / (ms * 1e6);
}
