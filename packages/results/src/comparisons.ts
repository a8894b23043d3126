import {
  accuracyDifference,
  detectableDifference,
  DETECTION_POWER,
  pairedDifference,
  seedsNeeded,
  verdictOf,
  type DifferenceEstimate,
  type PairedVerdict,
  type SeedsNeeded,
  decodeCorrect,
  type CorrectnessRecord,
} from '@headbench/stats';
import { GROUP_KEYS, groupId, groupRows, type Group, type GroupKey } from './groups.js';
import type { ResultRow } from './row.js';

export type Split = 'val' | 'test';

/** What a comparison rests on and how precisely. */
export interface Detectable {
  /** The power used for `difference` (0.8). */
  power: number;
  /** The smallest true difference this run finds with that power. */
  difference: number;
  /** Seeds that would find a 2-point difference on these evaluation images. */
  seedsFor2Points: SeedsNeeded;
}

/** A candidate head against the baseline head, paired by seed and by evaluation image. */
export interface HeadComparison {
  /** `per-lr`: both at the same lr; `best-lr`: each head at the lr of its best mean val accuracy. */
  selection: 'per-lr' | 'best-lr';
  baseline: string;
  candidate: string;
  backbone: string;
  /** The trainer both trained with (heads are compared per trainer); absent in results from before the trainer axis, all sgd. */
  trainer?: string;
  /** per-lr: the lr of both. */
  lr?: number;
  /** best-lr: the lr chosen for each. */
  baselineLr?: number;
  candidateLr?: number;
  baselineGroup: string;
  candidateGroup: string;
  split: Split;
  /** best-lr reported on the val images it was chosen on: the winner's numbers are flattered. */
  optimistic?: boolean;
  /** Candidate minus baseline accuracy, in [0, 1] units. */
  difference: number;
  ci95: [number, number];
  verdict: PairedVerdict;
  /** Seeds paired (finished on both sides). */
  seeds: number;
  images: number;
  detectable: Detectable;
  /** Standard errors of the difference: from the seeds (null: not measurable with one seed), from the images, total; and df. */
  noise: { seeds: number | null; images: number; total: number; df: number };
  precision: DifferenceEstimate['precision'];
  bootstrap: DifferenceEstimate['bootstrap'];
  notes: string[];
}

export interface SkippedComparison {
  selection: HeadComparison['selection'];
  baseline: string;
  candidate: string;
  baselineGroup: string;
  candidateGroup: string;
  reason: string;
}

/** The grouping keys two compared groups share: all but the head (and the lr, for best-lr). */
const PER_LR_KEYS: readonly GroupKey[] = GROUP_KEYS.filter((k) => k !== 'head');
const BEST_LR_KEYS: readonly GroupKey[] = GROUP_KEYS.filter((k) => k !== 'head' && k !== 'lr');
const keyOf = (g: Group, keys: readonly GroupKey[]) => keys.map((k) => String(g[k])).join('|');

const recordOf = (row: ResultRow, split: Split): CorrectnessRecord | undefined => row.perImage?.[split];
const accuracyOf = (row: ResultRow, split: Split): number | null => (split === 'val' ? row.finalValAccuracy : (row.testAccuracy ?? null));
const imagesOf = (row: ResultRow, split: Split): number => (split === 'val' ? row.valImages : (row.testImages ?? 0));

export type PairOutcome = { estimate: DifferenceEstimate; notes: string[] } | { reason: string };

// Results are rewritten after every combination and the comparisons recomputed from the rows; a
// finished row never changes, so an estimate is kept for the same key and the same rows.
const estimates = new Map<string, DifferenceEstimate>();
function cached(key: string, rows: readonly ResultRow[], compute: () => DifferenceEstimate): DifferenceEstimate {
  const id = JSON.stringify([key, rows.map((r) => [r.id, r.finishedAt, r.perImage?.val?.correct, r.perImage?.test?.correct])]);
  let e = estimates.get(id);
  if (!e) {
    if (estimates.size > 500) estimates.clear();
    e = compute();
    estimates.set(id, e);
  }
  return e;
}

/**
 * The difference between two sets of rows (candidate - baseline) on one split, paired by seed
 * (seeds that finished on both sides) and, where every row kept its per-image record of the same
 * images, by image; otherwise from the accuracies, less precisely, and says so.
 */
export function pairRows(baselineRows: readonly ResultRow[], candidateRows: readonly ResultRow[], split: Split, key: string, resamples?: number): PairOutcome {
  const usable = (r: ResultRow) => r.status === 'ok' && accuracyOf(r, split) !== null;
  const base = new Map(baselineRows.filter(usable).map((r) => [r.seed, r]));
  const cand = new Map(candidateRows.filter(usable).map((r) => [r.seed, r]));
  const seeds = [...base.keys()].filter((s) => cand.has(s)).sort((a, b) => a - b);
  if (seeds.length === 0) return { reason: `no seed finished on both sides with a ${split} accuracy` };
  const a = seeds.map((s) => base.get(s)!);
  const b = seeds.map((s) => cand.get(s)!);
  const notes: string[] = [];
  const unpaired = baselineRows.length + candidateRows.length - 2 * seeds.length;
  if (unpaired > 0) notes.push(`${unpaired} row${unpaired === 1 ? '' : 's'} without a partner seed or not finished left out`);
  const records = [...a, ...b].map((r) => recordOf(r, split));
  if (records.every((r): r is CorrectnessRecord => r !== undefined)) {
    const first = records[0]!;
    const other = records.find((r) => r.fingerprint !== first.fingerprint || r.images !== first.images);
    if (other) {
      return { reason: `the rows were evaluated on different ${split} images (${first.images} images ${first.fingerprint} and ${other.images} images ${other.fingerprint}): accuracies on different images cannot be paired` };
    }
    const decoded = records.map(decodeCorrect);
    const estimate = cached(`${key} ${resamples ?? ''}`, [...a, ...b], () =>
      pairedDifference({ baseline: decoded.slice(0, seeds.length), candidate: decoded.slice(seeds.length), key, ...(resamples ? { resamples } : {}) }),
    );
    if (seeds.length === 1) notes.push('one seed: seed noise is not measured, the interval covers image noise only');
    return { estimate, notes };
  }
  const images = imagesOf(a[0]!, split);
  if ([...a, ...b].some((r) => imagesOf(r, split) !== images)) return { reason: `the rows have different numbers of ${split} images: they were not evaluated on the same images` };
  notes.push(`no per-image ${split} records (results from an older headbench): image noise from the accuracies alone, less precise`);
  if (seeds.length === 1) notes.push('one seed: seed noise is not measured');
  return { estimate: accuracyDifference(a.map((r) => accuracyOf(r, split)!), b.map((r) => accuracyOf(r, split)!), images), notes };
}

export function detectableOf(e: DifferenceEstimate): Detectable {
  return { power: DETECTION_POWER, difference: detectableDifference(e.se, e.df), seedsFor2Points: seedsNeeded(e, 0.02) };
}

function toComparison(
  fields: Pick<HeadComparison, 'selection' | 'baseline' | 'candidate' | 'backbone' | 'baselineGroup' | 'candidateGroup' | 'split'> & Partial<HeadComparison>,
  e: DifferenceEstimate,
  notes: string[],
): HeadComparison {
  return {
    ...fields,
    difference: e.difference,
    ci95: e.ci95,
    verdict: verdictOf(e.ci95),
    seeds: e.seeds,
    images: e.images,
    detectable: detectableOf(e),
    noise: { seeds: e.variance.seeds === null ? null : Math.sqrt(e.variance.seeds), images: Math.sqrt(e.variance.images), total: e.se, df: e.df },
    precision: e.precision,
    bootstrap: e.bootstrap,
    notes,
  };
}

export interface ComparisonOptions {
  /** The baseline head's specifier, as in the rows. */
  baseline: string;
  resamples?: number;
}

/**
 * Every other head against the baseline: per shared keys (backbone, trainer, lr) on val, and, when more
 * than one lr ran, each head at its own best lr (by mean final val accuracy), reported on test
 * when every row has a test split, else on val marked optimistic.
 */
export function compareHeads(rows: readonly ResultRow[], options: ComparisonOptions): { comparisons: HeadComparison[]; skipped: SkippedComparison[] } {
  const groups = groupRows(rows);
  const rowsOf = (g: Group) => rows.filter((r) => groupId(r) === g.id);
  const comparisons: HeadComparison[] = [];
  const skipped: SkippedComparison[] = [];
  const { baseline } = options;
  if (!groups.some((g) => g.head === baseline)) return { comparisons, skipped };

  const compare = (selection: HeadComparison['selection'], base: Group, cand: Group, split: Split, extra: Partial<HeadComparison>) => {
    const key = JSON.stringify([selection, base.id, cand.id, split]);
    const outcome = pairRows(rowsOf(base), rowsOf(cand), split, key, options.resamples);
    const fields = { selection, baseline: base.head, candidate: cand.head, backbone: cand.backbone, trainer: cand.trainer, baselineGroup: base.id, candidateGroup: cand.id, split, ...extra };
    if ('reason' in outcome) skipped.push({ selection, baseline: base.head, candidate: cand.head, baselineGroup: base.id, candidateGroup: cand.id, reason: outcome.reason });
    else comparisons.push(toComparison(fields, outcome.estimate, outcome.notes));
  };

  for (const cand of groups) {
    if (cand.head === baseline) continue;
    const base = groups.find((g) => g.head === baseline && keyOf(g, PER_LR_KEYS) === keyOf(cand, PER_LR_KEYS));
    if (base) compare('per-lr', base, cand, 'val', { lr: cand.lr });
  }

  if (new Set(groups.map((g) => g.lr)).size > 1) {
    const best = new Map<string, Group>();
    for (const g of groups) {
      const mean = g.metrics.finalValAccuracy?.mean;
      if (mean === undefined) continue;
      const k = `${keyOf(g, BEST_LR_KEYS)}|${g.head}`;
      const seen = best.get(k);
      if (!seen || mean > (seen.metrics.finalValAccuracy?.mean ?? -1)) best.set(k, g);
    }
    for (const cand of best.values()) {
      if (cand.head === baseline) continue;
      const base = best.get(`${keyOf(cand, BEST_LR_KEYS)}|${baseline}`);
      if (!base) continue;
      const paired = [...rowsOf(base), ...rowsOf(cand)].filter((r) => r.status === 'ok');
      const onTest = paired.length > 0 && paired.every((r) => r.testAccuracy !== undefined && r.testAccuracy !== null);
      compare('best-lr', base, cand, onTest ? 'test' : 'val', { baselineLr: base.lr, candidateLr: cand.lr, ...(onTest ? {} : { optimistic: true }) });
    }
  }
  return { comparisons, skipped };
}
