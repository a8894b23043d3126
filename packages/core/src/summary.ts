import type { ResultRow } from './results.js';
import type { Column } from './table.js';

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
  { key: 'lr', title: 'lr', value: (r) => r.lr },
  { key: 'seed', title: 'seed', value: (r) => r.seed },
  { key: 'paramsTotal', title: 'params total', value: (r) => r.params?.total ?? '' },
  { key: 'paramsHead', title: 'params head', value: (r) => r.params?.head ?? '' },
  { key: 'finalValAccuracy', title: 'final val acc', value: (r) => round(r.finalValAccuracy, 3) },
  { key: 'bestValAccuracy', title: 'best val acc', value: (r) => round(r.bestValAccuracy, 3) },
  { key: 'finalValLoss', title: 'final val loss', value: (r) => round(r.finalValLoss, 3) },
  { key: 'trainAccuracyInference', title: 'train acc (inference)', value: (r) => round(r.trainAccuracyInference, 3) },
  { key: 'status', title: 'status', value: status },
  { key: 'medianStepMs', title: 'median step ms', value: (r) => round(r.stepTime?.medianMs, 0) },
  { key: 'imagesPerSecond', title: 'images/s', value: (r) => round(r.stepTime?.imagesPerSecond, 1) },
];
