import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

/** The CPU as Linux describes it: model name and the instruction-set flags TensorFlow and oneDNN dispatch on. */
export interface CpuIdentity {
  model: string;
  /** Vector and matrix extensions from /proc/cpuinfo (avx2, avx512f, fma, amx_tile, ...), sorted. */
  flags: string[];
  logicalCpus: number;
}

const ISA_FLAG = /^(sse\d.*|ssse3|avx.*|fma.*|f16c|amx.*|bmi\d)$/;

/** Parses /proc/cpuinfo text (exported for tests). */
export function cpuIdentityFrom(cpuinfo: string, logicalCpus: number): CpuIdentity {
  const first = cpuinfo.split(/\n\s*\n/).find((block) => /^processor\s*:/m.test(block)) ?? '';
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(first)?.[1]?.trim();
  const flags = (field('flags') ?? '').split(/\s+/).filter((f) => ISA_FLAG.test(f));
  return { model: field('model name') ?? os.cpus()[0]?.model.trim() ?? 'unknown', flags: [...new Set(flags)].sort(), logicalCpus };
}

export function cpuIdentity(): CpuIdentity {
  let text = '';
  try {
    text = fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // Not Linux: the model name from Node, no flags.
  }
  return cpuIdentityFrom(text, os.cpus().length);
}

/**
 * The native TensorFlow library tfjs-node loads, by file identity (device and inode), size and
 * modification time, so that a new TensorFlow (a new oneDNN) is probed anew without loading it
 * first. Not by path: each checkout hard-links the same provisioned library from the cache, and a
 * second clone on the same machine would otherwise probe again (seen: three verdicts for one CPU
 * and one library, from three worktrees).
 */
export function tensorflowIdentity(): string {
  try {
    const require = createRequire(import.meta.url);
    const root = path.dirname(require.resolve('@tensorflow/tfjs-node/package.json'));
    const lib = fs.realpathSync(path.join(root, 'deps', 'lib', 'libtensorflow.so'));
    const stat = fs.statSync(lib);
    return `${stat.dev}:${stat.ino}:${stat.size}:${Math.round(stat.mtimeMs)}`;
  } catch {
    return 'unknown';
  }
}

/** Environment variables that change which kernels oneDNN runs: part of what a verdict is for. */
export const KERNEL_ENVIRONMENT = ['ONEDNN_MAX_CPU_ISA', 'DNNL_MAX_CPU_ISA', 'TF_NUM_INTRAOP_THREADS', 'HEADBENCH_KERNEL_FIXES'] as const;

/** A key for one machine's verdict: CPU, TensorFlow library, kernel environment and the probe's version. */
export function machineKey(probeVersion: number, env: NodeJS.ProcessEnv = process.env, cpu: CpuIdentity = cpuIdentity(), tensorflow = tensorflowIdentity()): string {
  const kernelEnv = KERNEL_ENVIRONMENT.map((name) => `${name}=${env[name] ?? ''}`);
  return createHash('sha256').update(JSON.stringify([probeVersion, cpu, tensorflow, kernelEnv])).digest('hex').slice(0, 16);
}
