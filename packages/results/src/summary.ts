import type { RunResults } from './results.js';
import type { ResultRow } from './row.js';
import type { MetricSummary } from '@headbench/stats';
import type { HeadComparison } from './comparisons.js';
import type { Group } from './groups.js';
import { formatTable, type Column } from './table.js';

const round = (v: number | null | undefined, digits: number): number | string =>
  v === null || v === undefined || !Number.isFinite(v) ? '' : Number(v.toFixed(digits));

function status(r: ResultRow): string {
  if (r.status === 'error') return `error: ${r.error ?? ''}`;
  if (r.status === 'diverged') return `diverged (epoch ${r.divergedAt?.epoch}, step ${r.divergedAt?.step})`;
  return 'ok';
}

/** The run's summary table: one line per combination, the numbers the product exists for. */
export const SUMMARY_COLUMNS: readonly Column<ResultRow>[] = [
  { key: 'backbone', title: 'backbone', value: (r) => r.backbone },
  { key: 'head', title: 'head', value: (r) => r.head },
  { key: 'trainer', title: 'trainer', value: (r) => r.trainer ?? 'sgd' },
  { key: 'lr', title: 'lr', value: (r) => r.lr },
  { key: 'seed', title: 'seed', value: (r) => r.seed },
  { key: 'paramsTotal', title: 'params total', value: (r) => r.params?.total ?? '' },
  { key: 'paramsHead', title: 'params head', value: (r) => r.params?.head ?? '' },
  { key: 'finalValAccuracy', title: 'final val acc', value: (r) => round(r.finalValAccuracy, 3) },
  { key: 'bestValAccuracy', title: 'best val acc', value: (r) => round(r.bestValAccuracy, 3) },
  { key: 'finalValLoss', title: 'final val loss', value: (r) => round(r.finalValLoss, 3) },
  { key: 'testAccuracy', title: 'test acc', value: (r) => round(r.testAccuracy, 3) },
  { key: 'trainAccuracyInference', title: 'train acc (inference)', value: (r) => round(r.trainAccuracyInference, 3) },
  { key: 'status', title: 'status', value: status },
  { key: 'medianStepMs', title: 'median step ms', value: (r) => round(r.stepTime?.medianMs, 0) },
  { key: 'imagesPerSecond', title: 'images/s', value: (r) => round(r.stepTime?.imagesPerSecond, 1) },
];

/** The columns worth showing for these rows: a test column only when there is a test split. */
export function summaryColumns(rows: readonly ResultRow[]): Column<ResultRow>[] {
  return SUMMARY_COLUMNS.filter((c) => c.key !== 'testAccuracy' || rows.some((r) => r.testAccuracy !== undefined));
}

/** `0.780 ± 0.082 (3)`: mean, half-width of the 95% interval over seeds, seeds; `0.780 (1)` for one. */
export function formatSummary(m: MetricSummary | null, digits = 3): string {
  if (!m) return '';
  const mean = m.mean.toFixed(digits);
  return m.halfWidth === null ? `${mean} (${m.n})` : `${mean} ± ${m.halfWidth.toFixed(digits)} (${m.n})`;
}

/** The group table's columns (a test column when any group has a test accuracy). */
export function groupColumns(groups: readonly Group[]): Column<Group>[] {
  const columns: Column<Group>[] = [
    { key: 'backbone', title: 'backbone', value: (g) => g.backbone },
    { key: 'head', title: 'head', value: (g) => g.head },
    { key: 'trainer', title: 'trainer', value: (g) => g.trainer },
    { key: 'lr', title: 'lr', value: (g) => g.lr },
    { key: 'seeds', title: 'seeds', value: (g) => g.seeds.join(' ') },
    { key: 'finalValAccuracy', title: 'final val acc', value: (g) => formatSummary(g.metrics.finalValAccuracy) },
    { key: 'bestValAccuracy', title: 'best val acc', value: (g) => formatSummary(g.metrics.bestValAccuracy) },
    { key: 'finalValLoss', title: 'final val loss', value: (g) => formatSummary(g.metrics.finalValLoss, 2) },
  ];
  if (groups.some((g) => g.metrics.testAccuracy)) columns.push({ key: 'testAccuracy', title: 'test acc', value: (g) => formatSummary(g.metrics.testAccuracy) });
  columns.push(
    { key: 'medianStepMs', title: 'median step ms', value: (g) => formatSummary(g.metrics.medianStepMs, 0) },
    { key: 'excluded', title: 'left out', value: (g) => g.excluded.map((e) => `${e.id.split('|').at(-1)} ${e.status}`).join(', ') },
  );
  return columns;
}

const points = (v: number) => `${v >= 0 ? '+' : ''}${(100 * v).toFixed(1)}`;

function seedsFor(c: HeadComparison): string {
  const s = c.detectable.seedsFor2Points;
  if (s.seeds !== null) return String(s.seeds);
  return s.reason?.startsWith('no number of seeds') ? `none on these images (${s.reason.replace(/^.*about (\d+) images.*$/, '~$1 images needed')})` : 'unknown (1 seed)';
}

/** The verdict table's columns, per-lr or best-lr. */
export function verdictColumns(selection: HeadComparison['selection']): Column<HeadComparison>[] {
  const who: Column<HeadComparison>[] =
    selection === 'per-lr'
      ? [
          { key: 'backbone', title: 'backbone', value: (c) => c.backbone },
          { key: 'trainer', title: 'trainer', value: (c) => c.trainer ?? 'sgd' },
          { key: 'lr', title: 'lr', value: (c) => c.lr ?? '' },
          { key: 'candidate', title: 'head', value: (c) => c.candidate },
          { key: 'baseline', title: 'vs', value: (c) => c.baseline },
        ]
      : [
          { key: 'backbone', title: 'backbone', value: (c) => c.backbone },
          { key: 'trainer', title: 'trainer', value: (c) => c.trainer ?? 'sgd' },
          { key: 'candidate', title: 'head (its best lr)', value: (c) => `${c.candidate} (${c.candidateLr})` },
          { key: 'baseline', title: 'vs (its best lr)', value: (c) => `${c.baseline} (${c.baselineLr})` },
          { key: 'split', title: 'on', value: (c) => (c.optimistic ? 'val (optimistic)' : c.split) },
        ];
  return [
    ...who,
    { key: 'difference', title: 'difference (points)', value: (c) => points(c.difference) },
    { key: 'ci95', title: '95% interval', value: (c) => `[${points(c.ci95[0])}, ${points(c.ci95[1])}]` },
    { key: 'verdict', title: 'verdict', value: (c) => c.verdict },
    { key: 'seeds', title: 'seeds', value: (c) => c.seeds },
    { key: 'images', title: 'images', value: (c) => c.images },
    { key: 'detectable', title: 'detectable (80% power)', value: (c) => `${(100 * c.detectable.difference).toFixed(1)} points` },
    { key: 'seedsFor2Points', title: 'seeds for 2 points', value: seedsFor },
    { key: 'noise', title: 'noise (se: seeds, images)', value: (c) => `${c.noise.seeds === null ? 'not measured' : (100 * c.noise.seeds).toFixed(1)}, ${(100 * c.noise.images).toFixed(1)}` },
  ];
}

/** What the summary says in words, shared by the Markdown and the HTML report. */
export interface SummaryText {
  perLrTitle: string;
  perLrNote: string;
  bestLrTitle: string;
  /** On test, or optimistic on val. */
  bestLrNote?: string;
  /** With one seed per combination: what differences mean then. */
  oneSeedNote?: string;
  /** Notes of the comparisons (one seed, no per-image records) and comparisons not made. */
  notes: string[];
}

export function summaryText(results: RunResults): SummaryText {
  const comparisons = results.comparisons ?? [];
  const bestLr = comparisons.filter((c) => c.selection === 'best-lr');
  const perLr = comparisons.filter((c) => c.selection === 'per-lr');
  const multiSeed = (results.groups ?? []).some((g) => g.rows.length > 1);
  const detectable = perLr.map((c) => 100 * c.detectable.difference);
  return {
    perLrTitle: `Is it better than ${results.baseline}? (same lr, on val)`,
    perLrNote:
      'Candidate minus baseline accuracy in points, paired by seed and by image, with a 95% interval over both the seeds and the evaluation images. ' +
      '`better` or `worse` when the interval excludes 0; `no difference detected` when it does not: the difference is not told apart from noise. ' +
      'Detectable: the smallest true difference this run finds with 80% power.',
    bestLrTitle: `Each head at its best lr (chosen by mean val accuracy), against ${results.baseline} at its own`,
    ...(bestLr.length
      ? {
          bestLrNote: bestLr.some((c) => c.optimistic)
            ? 'No test split: these numbers are on the val images the lr was chosen on, so they are optimistic for the winner. Add --test <dir> or --test-split 0.2 for an unbiased verdict.'
            : 'The lr was chosen on val; the verdict is on the test split, which no choice saw.',
        }
      : {}),
    ...(!multiSeed && results.rows.length > 1
      ? {
          oneSeedNote:
            `One seed per combination: ${detectable.length ? `differences below the detectable size (${Math.min(...detectable).toFixed(1)}-${Math.max(...detectable).toFixed(1)} points here, from image noise alone)` : 'small differences'} are noise, ` +
            'and seed noise, often as large, is not measured. Run --seed 1 --seed 2 --seed 3 to measure it.',
        }
      : {}),
    notes: [
      ...[...new Set(comparisons.flatMap((c) => c.notes))].map((n) => `Note: ${n}.`),
      ...(results.comparisonsSkipped ?? []).map((s) => `Not compared: ${s.candidateGroup} against ${s.baselineGroup}: ${s.reason}.`),
    ],
  };
}

/** The verdict tables and their notes, as Markdown lines. */
export function verdictSection(results: RunResults): string[] {
  const text = summaryText(results);
  const lines: string[] = [];
  const comparisons = results.comparisons ?? [];
  const perLr = comparisons.filter((c) => c.selection === 'per-lr');
  const bestLr = comparisons.filter((c) => c.selection === 'best-lr');
  if (perLr.length) lines.push(`### ${text.perLrTitle}`, '', formatTable(perLr, verdictColumns('per-lr'), 'md'), text.perLrNote, '');
  if (bestLr.length) lines.push(`### ${text.bestLrTitle}`, '', formatTable(bestLr, verdictColumns('best-lr'), 'md'), text.bestLrNote ?? '', '');
  for (const note of text.notes) lines.push(note, '');
  return lines;
}

/**
 * The run's summary, for the terminal and summary.md: a group table (mean ± 95% half-width over
 * seeds) when any group has more than one seed, else the per-row table with a note on what one
 * seed can tell apart; then the verdict tables.
 */
export function renderSummary(results: RunResults): string {
  const groups = results.groups ?? [];
  const text = summaryText(results);
  const lines: string[] = [];
  if (groups.some((g) => g.rows.length > 1)) {
    lines.push('### Groups over seeds (mean ± 95% half-width, seeds)', '', formatTable(groups, groupColumns(groups), 'md'));
  } else {
    lines.push(formatTable(results.rows, summaryColumns(results.rows), 'md'));
    if (text.oneSeedNote) lines.push(text.oneSeedNote, '');
  }
  lines.push(...verdictSection(results));
  return lines.join('\n');
}

const GROUP_CSV_METRICS = ['finalValAccuracy', 'bestValAccuracy', 'finalValLoss', 'testAccuracy', 'medianStepMs'] as const;

/** results.csv: one line per combination, with its group's statistics over seeds beside it. */
export function resultsCsv(results: RunResults): string {
  const groups = new Map((results.groups ?? []).flatMap((g) => g.rows.map((id) => [id, g] as const)));
  const columns: Column<ResultRow>[] = [
    ...SUMMARY_COLUMNS,
    { key: 'group', title: 'group', value: (r) => groups.get(r.id)?.id ?? '' },
    { key: 'groupSeeds', title: 'group seeds', value: (r) => groups.get(r.id)?.seeds.length ?? '' },
    ...GROUP_CSV_METRICS.flatMap((m): Column<ResultRow>[] => [
      { key: `group_${m}_mean`, title: '', value: (r) => round(groups.get(r.id)?.metrics[m]?.mean, 6) },
      { key: `group_${m}_sd`, title: '', value: (r) => round(groups.get(r.id)?.metrics[m]?.sd, 6) },
      { key: `group_${m}_ci95_low`, title: '', value: (r) => round(groups.get(r.id)?.metrics[m]?.ci95?.[0], 6) },
      { key: `group_${m}_ci95_high`, title: '', value: (r) => round(groups.get(r.id)?.metrics[m]?.ci95?.[1], 6) },
    ]),
  ];
  return formatTable(results.rows, columns, 'csv');
}
