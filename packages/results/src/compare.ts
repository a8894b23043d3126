import { median } from '@headbench/stats';
import { pairRows } from './comparisons.js';
import { groupId } from './groups.js';
import type { RunResults } from './results.js';
import type { ResultRow } from './row.js';

export interface CompareThresholds {
  /** Median train step slower by more than this fraction (default 0.10). */
  stepTime: number;
  /** Final val accuracy lower by more than this many points, in [0, 1] units (default 0.02). */
  accuracy: number;
}

export const DEFAULT_THRESHOLDS: CompareThresholds = { stepTime: 0.1, accuracy: 0.02 };

export type Verdict = 'regression' | 'improvement' | 'within-noise' | 'unchanged' | 'not-compared';

export interface MetricComparison {
  /** The combination id (step time, status), or the group id over seeds (accuracy). */
  id: string;
  metric: 'stepTime' | 'accuracy' | 'status';
  baseline: number | string;
  current: number | string;
  /** current - baseline (ms, or accuracy points in [0, 1]). */
  change: number;
  /** The change that measured noise alone could explain (95%; for accuracy the half-width of the interval over seeds and images). */
  noise: number;
  verdict: Verdict;
  reason: string;
}

export interface Comparison {
  metrics: MetricComparison[];
  /** In the baseline but not in the current results: a combination that stopped reporting. */
  missing: string[];
  /** New in the current results. */
  added: string[];
  regressions: number;
  improvements: number;
  /** Environment fields that differ between the two runs (a baseline from another machine is no baseline). */
  environmentChanges: string[];
}

const ENVIRONMENT_FIELDS = ['cpu', 'cores', 'node', 'tfjsNode', 'libtensorflow', 'accelerated', 'kernelFixes', 'onednn', 'threads'] as const;

/**
 * An environment field as compared; results from before kernel fixes were recorded had none. Of
 * oneDNN, what decides the kernels (on or off, the instruction set, the 1x1 convolutions avoided),
 * not the reason's wording; results from before it was recorded compare as unknown, not as changed.
 */
function environmentValue(env: RunResults['environment'] | undefined, key: (typeof ENVIRONMENT_FIELDS)[number]): string {
  if (key === 'kernelFixes') return JSON.stringify(env?.kernelFixes ?? []);
  if (key === 'onednn') return env?.onednn ? JSON.stringify({ enabled: env.onednn.enabled, isa: env.onednn.isa, conv1x1AsMatMul: env.onednn.conv1x1AsMatMul?.pairs }) : 'unknown';
  return JSON.stringify(env?.[key]);
}

/**
 * A step-time sample's median and the standard error of that median. The spread is taken from the
 * median absolute deviation (times 1.4826, the standard deviation for normal samples), not the
 * standard deviation: one step stalled by another process on a shared machine (15 ms steps with
 * one of 876 ms, seen here) would otherwise widen the noise band until a tripled step passes.
 */
function sampleStats(samples: readonly number[]): { median: number; se: number } {
  const n = samples.length;
  const m = median(samples);
  const sigma = 1.4826 * median(samples.map((v) => Math.abs(v - m)));
  // The standard error of a median is about 1.2533 times that of the mean for normal samples.
  return { median: m, se: (1.2533 * sigma) / Math.sqrt(n) };
}

function compareStepTime(id: string, a: ResultRow, b: ResultRow, threshold: number): MetricComparison | undefined {
  const sa = a.stepTime?.samplesMs;
  const sb = b.stepTime?.samplesMs;
  if (!sa?.length || !sb?.length) return undefined;
  const x = sampleStats(sa);
  const y = sampleStats(sb);
  const change = y.median - x.median;
  const noise = 1.96 * Math.hypot(x.se, y.se);
  const relative = change / x.median;
  const beyondThreshold = Math.abs(relative) > threshold;
  const beyondNoise = Math.abs(change) > noise;
  const verdict: Verdict = beyondThreshold && beyondNoise ? (change > 0 ? 'regression' : 'improvement') : beyondThreshold ? 'within-noise' : 'unchanged';
  const pct = `${relative >= 0 ? '+' : ''}${(100 * relative).toFixed(1)}%`;
  const reason =
    verdict === 'within-noise'
      ? `median step ${pct}, beyond ${100 * threshold}% but within the noise of ±${noise.toFixed(1)} ms`
      : `median step ${x.median.toFixed(1)} → ${y.median.toFixed(1)} ms (${pct}; threshold ${100 * threshold}%, noise ±${noise.toFixed(1)} ms)`;
  return { id, metric: 'stepTime', baseline: x.median, current: y.median, change, noise, verdict, reason };
}

/**
 * Final val accuracy per group over seeds (rows equal but for the seed): tonight minus the
 * baseline, paired by seed and by val image, with the same interval as the head comparisons
 * (over seeds and images). A regression needs the interval to exclude 0 and the drop to exceed
 * the threshold. Without per-image records on both sides (a version-1 baseline) the images'
 * part is binomial on the accuracies, which is less precise; the reason says so.
 */
function compareAccuracy(id: string, a: readonly ResultRow[], b: readonly ResultRow[], threshold: number): MetricComparison | undefined {
  const outcome = pairRows(a, b, 'val', `compare ${id}`);
  if ('reason' in outcome) {
    if (!a.some((r) => r.status === 'ok') || !b.some((r) => r.status === 'ok')) return undefined;
    return { id, metric: 'accuracy', baseline: '', current: '', change: 0, noise: 0, verdict: 'not-compared', reason: `final val accuracy not compared: ${outcome.reason}` };
  }
  const e = outcome.estimate;
  const mean = (rows: readonly ResultRow[]) => {
    const v = rows.filter((r) => r.status === 'ok' && r.finalValAccuracy !== null).map((r) => r.finalValAccuracy as number);
    return v.reduce((s, x) => s + x, 0) / v.length;
  };
  const p = mean(a);
  const q = mean(b);
  const change = e.difference;
  const noise = (e.ci95[1] - e.ci95[0]) / 2;
  const beyondThreshold = Math.abs(change) > threshold;
  const beyondNoise = e.ci95[0] > 0 || e.ci95[1] < 0;
  const verdict: Verdict = beyondThreshold && beyondNoise ? (change < 0 ? 'regression' : 'improvement') : beyondThreshold ? 'within-noise' : 'unchanged';
  const pts = (v: number) => `${v >= 0 ? '+' : ''}${(100 * v).toFixed(1)}`;
  const scope = e.precision === 'per-image' ? `over ${e.seeds} seed${e.seeds === 1 ? '' : 's'} and ${e.images} images` : `over ${e.seeds} seed${e.seeds === 1 ? '' : 's'}, images as binomial (no per-image records: less precise)`;
  const caveat = e.seeds === 1 ? '; one seed: seed noise not measured' : '';
  const reason = `final val accuracy ${p.toFixed(3)} → ${q.toFixed(3)} (${pts(change)} points, 95% interval [${pts(e.ci95[0])}, ${pts(e.ci95[1])}] ${scope}${caveat}; threshold ${100 * threshold} points)`;
  return { id, metric: 'accuracy', baseline: p, current: q, change, noise, verdict, reason };
}

/**
 * Matches rows by combination id and flags a regression only when a change is beyond its
 * threshold and beyond what the measured noise explains; a combination that used to succeed and
 * now diverges or errors is always a regression.
 */
export function compareResults(baseline: RunResults, current: RunResults, thresholds: CompareThresholds = DEFAULT_THRESHOLDS): Comparison {
  const before = new Map(baseline.rows.map((r) => [r.id, r]));
  const after = new Map(current.rows.map((r) => [r.id, r]));
  const metrics: MetricComparison[] = [];
  for (const [id, a] of before) {
    const b = after.get(id);
    if (!b) continue;
    if (a.status !== b.status) {
      const worse = a.status === 'ok';
      metrics.push({ id, metric: 'status', baseline: a.status, current: b.status, change: 0, noise: 0, verdict: worse ? 'regression' : 'improvement', reason: `status ${a.status} → ${b.status}${b.error ? `: ${b.error}` : ''}` });
      if (b.status !== 'ok' || a.status !== 'ok') continue;
    }
    const s = compareStepTime(id, a, b, thresholds.stepTime);
    if (s) metrics.push(s);
  }
  // Accuracy per group over seeds: one seed's accuracy moves by several points with the seed alone.
  const groupsOf = (rows: readonly ResultRow[]) => {
    const m = new Map<string, ResultRow[]>();
    for (const r of rows) m.set(groupId(r), [...(m.get(groupId(r)) ?? []), r]);
    return m;
  };
  const currentGroups = groupsOf(current.rows);
  for (const [id, rows] of groupsOf(baseline.rows)) {
    const now = currentGroups.get(id);
    if (!now) continue;
    const acc = compareAccuracy(id, rows, now, thresholds.accuracy);
    if (acc) metrics.push(acc);
  }
  return {
    metrics,
    missing: [...before.keys()].filter((id) => !after.has(id)),
    added: [...after.keys()].filter((id) => !before.has(id)),
    regressions: metrics.filter((m) => m.verdict === 'regression').length,
    improvements: metrics.filter((m) => m.verdict === 'improvement').length,
    environmentChanges: ENVIRONMENT_FIELDS.filter((k) => {
      const [was, now] = [environmentValue(baseline.environment, k), environmentValue(current.environment, k)];
      return was !== now && was !== 'unknown' && now !== 'unknown';
    }).map(
      (k) => `${k}: ${environmentValue(baseline.environment, k)} → ${environmentValue(current.environment, k)}`,
    ),
  };
}
