import fs from 'node:fs';
import os from 'node:os';
import type { SkippedFile } from '@headbench/data';
import { cpuIdentity, runtimeInfo, type OneDnnState } from '@headbench/engine';
import { explainFileErrors, systemErrorCode, UsageError } from '@headbench/errors';
import { compareHeads, type HeadComparison, type SkippedComparison } from './comparisons.js';
import { groupRows, type Group } from './groups.js';
import type { ResultRow } from './row.js';

export const RESULTS_SCHEMA = 'headbench/results';
/** 2 added per-image records, a test split, `groups` and `comparisons`; version 1 files still read. */
export const RESULTS_SCHEMA_VERSION = 2;
const READABLE_VERSIONS: readonly number[] = [1, 2];

export interface Environment {
  node: string;
  tfjsNode: string;
  libtensorflow: string;
  backend: string;
  /**
   * Whether ReLU6 and training BatchNorm ran on TensorFlow's fused kernels (see @headbench/engine's accelerate.ts)
   * and inference as one TensorFlow graph where the layers allow (graph/inference.ts).
   */
  accelerated: boolean;
  /** TensorFlow kernels replaced because they compute wrong results on this machine (@headbench/engine's kernel-fixes.ts). */
  kernelFixes?: string[];
  /**
   * oneDNN or TensorFlow's own kernels, why (the environment or the kernel probe's measurement),
   * a narrowed instruction set and the 1x1 convolutions run as matrix products (@headbench/engine's
   * onednn/policy.ts); absent in results from before it was recorded.
   */
  onednn?: OneDnnState;
  platform: string;
  cpu: string;
  /** The CPU's vector and matrix extensions (avx2, avx512f, fma, amx_tile, ...), which decide TensorFlow's kernels; absent in older results. */
  cpuFlags?: string[];
  cores: number;
  memoryGiB: number;
  /** TensorFlow's thread pools as set by TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS, else `default`. */
  threads: { intraOp: string; interOp: string };
  hostname: string;
}

export function environment(): Environment {
  const info = runtimeInfo();
  return {
    node: process.version,
    tfjsNode: info.tfjsNode,
    libtensorflow: info.libtensorflow,
    backend: info.backend,
    accelerated: info.accelerated,
    kernelFixes: info.kernelFixes,
    onednn: info.onednn,
    platform: `${process.platform}-${process.arch}`,
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cpuFlags: cpuIdentity().flags,
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    threads: { intraOp: process.env['TF_NUM_INTRAOP_THREADS'] ?? 'default', interOp: process.env['TF_NUM_INTEROP_THREADS'] ?? 'default' },
    hostname: os.hostname(),
  };
}

/** The kernel family in words, for reports and summaries: `oneDNN on (why); 1x1 convolutions ... as matrix products`. */
export function describeOneDnn(onednn: OneDnnState | undefined): string {
  if (!onednn) return 'oneDNN not recorded';
  const why = onednn.reason.replace(/^oneDNN (on|off): /, '');
  const avoided = onednn.conv1x1AsMatMul ? `; 1x1 convolutions with ${onednn.conv1x1AsMatMul.pairs.map(([i, o]) => `${i}->${o}`).join(', ')} channels as matrix products (${onednn.conv1x1AsMatMul.why})` : '';
  return `oneDNN ${onednn.enabled ? 'on' : 'off'}${onednn.isa ? ` at ${onednn.isa}` : ''} (${why})${avoided}`;
}

/** How a run treats an existing results.json in its folder. */
export type ResultsMode = 'new' | 'resume' | 'extend';

/** One `headbench run` that wrote rows into a results file: where its rows came from. */
export interface RunRecord {
  /** The command line after `headbench`, and the folder it ran in. */
  argv: string[];
  cwd: string;
  host: string;
  pid: number;
  startedAt: string;
  mode: ResultsMode;
  /** The plan's axes (`backbone`, `head`, `lr`, `seed`, ...) and its `shard`, named as the command line's flags. */
  plan: Record<string, unknown>;
  /** The combinations whose rows this run wrote, in the order it finished them. */
  trained: string[];
  /**
   * Set when this run continued one whose process died in native code (`headbench run` watches
   * its training process and goes on in a new one): the combinations that died, with the signal.
   */
  continuedAfter?: { id: string; signal: string }[];
}

export interface RunResults {
  schema: typeof RESULTS_SCHEMA;
  /** Files of version 1 (before per-image records and statistics) are read too. */
  schemaVersion: number;
  createdAt: string;
  updatedAt: string;
  environment: Environment;
  /**
   * The settings every row shares (dataset, input size, epochs, ...), named as the command
   * line's flags. `--resume` and `--extend` refuse a run whose settings differ, and `merge`
   * refuses files that differ: rows of one file always mean the same thing.
   */
  config: Record<string, unknown>;
  /** Every run that wrote rows here, oldest first (absent in files of older versions). */
  runs?: RunRecord[];
  /** The files `merge` joined into this one. */
  mergedFrom?: string[];
  skippedFiles: SkippedFile[];
  rows: ResultRow[];
  /** The head every other head is compared with (`--baseline`; else the first head of the rows). */
  baseline?: string;
  /** Rows that differ only in the seed, with statistics over seeds; derived from `rows` on every write. */
  groups?: Group[];
  /** Each other head against the baseline, with an interval and a verdict; derived from `rows` on every write. */
  comparisons?: HeadComparison[];
  /** Comparisons that could not be made, and why (no common seed, different images). */
  comparisonsSkipped?: SkippedComparison[];
}

/** The baseline head of a results file: the run's `--baseline`, else the first head of the rows. */
export function baselineOf(results: Pick<RunResults, 'baseline' | 'config' | 'rows'>): string | undefined {
  const configured = results.config['baseline'];
  return results.baseline ?? (typeof configured === 'string' ? configured : results.rows[0]?.head);
}

/** `groups` and `comparisons` recomputed from the rows (run, resume and merge all write through this). */
export function withStatistics(results: RunResults): RunResults {
  const baseline = baselineOf(results);
  const { comparisons, skipped } = baseline ? compareHeads(results.rows, { baseline }) : { comparisons: [], skipped: [] };
  return {
    ...results,
    schemaVersion: RESULTS_SCHEMA_VERSION,
    ...(baseline ? { baseline } : {}),
    groups: groupRows(results.rows),
    comparisons,
    comparisonsSkipped: skipped,
  };
}

export function readResults(file: string): RunResults {
  let text: string;
  try {
    text = explainFileErrors('read', file, () => fs.readFileSync(file, 'utf8'));
  } catch (error) {
    if (systemErrorCode((error as Error).cause) === 'ENOENT') throw new UsageError(`${file} does not exist`);
    throw error;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${file} is not valid JSON (${error instanceof Error ? error.message : error}); it is not a results file headbench wrote whole: choose another --out, or restore the file`);
  }
  const r = (data ?? {}) as Partial<RunResults>;
  if (r.schema !== RESULTS_SCHEMA) throw new UsageError(`${file} is not a headbench results file (schema is ${JSON.stringify(r.schema)})`);
  if (!READABLE_VERSIONS.includes(r.schemaVersion as number)) {
    throw new UsageError(`${file} has results schema version ${r.schemaVersion}; this headbench reads versions ${READABLE_VERSIONS.join(' and ')}`);
  }
  return r as RunResults;
}

/**
 * Joins the results of several shards of one plan (or of extended runs). Every file must have
 * the same settings; the same combination in two files is an error unless both are identical,
 * so a shard run twice by mistake is noticed.
 */
export function mergeResults(parts: readonly { file: string; results: RunResults }[]): RunResults {
  const first = parts[0];
  if (!first) throw new UsageError('merge needs at least one results file');
  const byId = new Map<string, { file: string; row: ResultRow }>();
  for (const { file, results } of parts) {
    const differences = settingDifferences(first.results.config, results.config, (a, b) => `${a} in ${first.file}; ${b} in ${file}`);
    if (differences.length) {
      throw new UsageError(`${file} and ${first.file} were run with other settings (${differences.join(' | ')}); merge only results of the same settings`);
    }
    for (const row of results.rows) {
      const seen = byId.get(row.id);
      if (seen && JSON.stringify(seen.row) !== JSON.stringify(row)) {
        throw new UsageError(`combination ${row.id} is in both ${seen.file} and ${file} with different results; merge each shard once`);
      }
      byId.set(row.id, { file, row });
    }
  }
  const skipped = new Map(parts.flatMap((p) => p.results.skippedFiles.map((s) => [s.file, s] as const)));
  return {
    ...first.results,
    updatedAt: new Date().toISOString(),
    runs: parts.flatMap((p) => p.results.runs ?? []),
    mergedFrom: parts.map((p) => p.file),
    skippedFiles: [...skipped.values()],
    rows: [...byId.values()].map((v) => v.row),
  };
}

function sameValue(a: unknown, b: unknown): boolean {
  // Axes are sets: `--lr 0.1 --lr 0.01` is the plan of `--lr 0.01 --lr 0.1`.
  if (Array.isArray(a) && Array.isArray(b)) {
    const key = (v: unknown[]) => v.map((x) => JSON.stringify(x)).sort().join('\n');
    return key(a) === key(b);
  }
  return JSON.stringify(a) === JSON.stringify(b);
}

function showValue(v: unknown): string {
  if (v === undefined) return 'not recorded';
  if (v === null) return 'none';
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  if (Array.isArray(v)) return v.map(showValue).join(', ');
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/**
 * Each key whose value differs between two recorded configs or plans, in the command line's
 * words: `--lr: was 0.1, 0.01; now 0.5`. Keys are the flags in camelCase (`inputSize` is
 * `--input-size`), so a setting added to the config is compared without code of its own.
 */
export function settingDifferences(
  was: Record<string, unknown>,
  now: Record<string, unknown>,
  words: (was: string, now: string) => string = (a, b) => `was ${a}; now ${b}`,
): string[] {
  const keys = [...new Set([...Object.keys(now), ...Object.keys(was)])];
  return keys
    .filter((key) => !sameValue(was[key], now[key]))
    .map((key) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${words(showValue(was[key]), showValue(now[key]))}`);
}
