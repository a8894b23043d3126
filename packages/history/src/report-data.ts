import { METRICS, type Change, type CheckResult } from './check.js';
import type { HistoryData, StoredNight, StoredRow } from './database.js';
import { tQuantile } from './upstream.js';

/** A night's value of one metric: the mean over seeds with its 95% t interval (null with one seed). */
export interface NightPoint {
  mean: number;
  low: number | null;
  high: number | null;
  seeds: number;
}

export interface CellNight {
  night: number;
  commit: string;
  time: string;
  testbed: string;
  val?: NightPoint;
  test?: NightPoint;
  stepMs?: NightPoint;
  inferenceMs?: NightPoint;
}

/** One cell (backbone x head x trainer x lr) over the nights, with its change points. */
export interface CellHistory {
  backbone: string;
  head: string;
  trainer: string;
  lr: number;
  nights: CellNight[];
  changes: Change[];
}

export interface HistoryReport {
  nights: StoredNight[];
  testbeds: string[];
  cells: CellHistory[];
  check: CheckResult;
}

function point(values: readonly number[]): NightPoint | undefined {
  const n = values.length;
  if (!n) return undefined;
  const mean = values.reduce((s, v) => s + v, 0) / n;
  if (n < 2) return { mean, low: null, high: null, seeds: n };
  const sd = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1));
  const h = (tQuantile(0.975, n - 1) * sd) / Math.sqrt(n);
  return { mean, low: mean - h, high: mean + h, seeds: n };
}

const same = (a: Pick<StoredRow, 'backbone' | 'head' | 'trainer' | 'lr'>, b: Pick<StoredRow, 'backbone' | 'head' | 'trainer' | 'lr'>) =>
  a.backbone === b.backbone && a.head === b.head && a.trainer === b.trainer && a.lr === b.lr;

/** What the history report shows: every cell's nights (accuracy with its band over seeds, timings per testbed) and change points. */
export function historyReport(data: HistoryData, check: CheckResult): HistoryReport {
  const cells: CellHistory[] = [];
  for (const row of data.rows) if (!cells.some((c) => same(c, row))) cells.push({ backbone: row.backbone, head: row.head, trainer: row.trainer, lr: row.lr, nights: [], changes: [] });
  for (const cell of cells) {
    for (const night of data.nights) {
      const rows = data.rows.filter((r) => r.night === night.night && r.status === 'ok' && same(r, cell));
      if (!rows.length) continue;
      const values = (metric: keyof typeof METRICS) => rows.map((r) => r[metric]).filter((v): v is number => v !== null);
      const val = point(values('finalValAccuracy'));
      const test = point(values('testAccuracy'));
      const stepMs = point(values('medianStepMs'));
      const inferenceMs = point(values('inferenceMs'));
      cell.nights.push({ night: night.night, commit: night.commit, time: night.time, testbed: night.testbed, ...(val ? { val } : {}), ...(test ? { test } : {}), ...(stepMs ? { stepMs } : {}), ...(inferenceMs ? { inferenceMs } : {}) });
    }
    cell.changes = check.changes.filter((c) => same(c, cell));
  }
  return { nights: data.nights, testbeds: [...new Set(data.nights.map((n) => n.testbed))], cells, check };
}
