import type { ResultRow } from './results.js';
import { formatCount, type Table } from './table.js';

const fixed = (v: number | null | undefined, digits: number) => (v === null || v === undefined || Number.isNaN(v) ? '' : v.toFixed(digits));

/** The run's summary table: one line per combination, the numbers the product exists for. */
export function summaryTable(rows: readonly ResultRow[]): Table {
  return {
    columns: [
      'backbone',
      'head',
      'lr',
      'seed',
      'params total',
      'params head',
      'final val acc',
      'best val acc',
      'final val loss',
      'train acc (inference)',
      'status',
      'median step ms',
      'images/s',
    ],
    rows: rows.map((r) => [
      r.backbone,
      r.head,
      String(r.lr),
      String(r.seed),
      r.params ? formatCount(r.params.total) : '',
      r.params ? formatCount(r.params.head) : '',
      fixed(r.finalValAccuracy, 3),
      fixed(r.bestValAccuracy, 3),
      fixed(r.finalValLoss, 3),
      fixed(r.trainAccuracyInference, 3),
      r.status === 'error' ? `error: ${r.error ?? ''}` : r.status === 'diverged' ? `diverged (epoch ${r.divergedAt?.epoch}, step ${r.divergedAt?.step})` : 'ok',
      fixed(r.stepTime?.medianMs, 0),
      fixed(r.stepTime?.imagesPerSecond, 1),
    ]),
  };
}
