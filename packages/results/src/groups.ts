import { describeValues, type MetricSummary } from '@headbench/stats';
import { DEFAULT_TRAINER } from './records.js';
import type { ResultRow } from './row.js';

/**
 * The row fields that define a combination, except the seed: rows equal in all of them form a
 * group over seeds. A new axis of the plan (a trainer) is one more entry here.
 */
export const GROUP_KEYS = ['backbone', 'head', 'trainer', 'lr'] as const;
export type GroupKey = (typeof GROUP_KEYS)[number];
export type GroupKeys = Pick<ResultRow, Exclude<GroupKey, 'trainer'>> & { trainer: string };

/** The trainer of a row: rows from before the trainer axis trained with the default, sgd. */
const trainerOf = (row: Pick<ResultRow, 'trainer'>): string => row.trainer ?? DEFAULT_TRAINER;

/**
 * A group's id, in the form of a combination id without the seed: `mobilenetv2|gap|lr=0.01`, and
 * `|trainer=...` for any trainer but the default (as combination ids have it).
 */
export function groupId(row: Pick<ResultRow, Exclude<GroupKey, 'trainer'>> & { trainer?: string }): string {
  const trainer = trainerOf(row);
  return `${row.backbone}|${row.head}|lr=${row.lr}${trainer === DEFAULT_TRAINER ? '' : `|trainer=${trainer}`}`;
}

export const GROUP_METRICS = {
  finalValAccuracy: (r: ResultRow) => r.finalValAccuracy,
  bestValAccuracy: (r: ResultRow) => r.bestValAccuracy,
  finalValLoss: (r: ResultRow) => r.finalValLoss,
  testAccuracy: (r: ResultRow) => r.testAccuracy ?? null,
  medianStepMs: (r: ResultRow) => r.stepTime?.medianMs ?? null,
} as const;
export type GroupMetric = keyof typeof GROUP_METRICS;

export interface Group extends GroupKeys {
  id: string;
  /** The ids of the rows it covers (every status). */
  rows: string[];
  /** Seeds of the rows that finished (`ok`), which the statistics are over. */
  seeds: number[];
  /** Rows left out of the statistics, and why (diverged, error). */
  excluded: { id: string; status: string }[];
  metrics: Record<GroupMetric, MetricSummary | null>;
}

/** Groups in the order of their first row. Statistics are over the rows that finished. */
export function groupRows(rows: readonly ResultRow[]): Group[] {
  const groups = new Map<string, { keys: GroupKeys; rows: ResultRow[] }>();
  for (const row of rows) {
    const id = groupId(row);
    let g = groups.get(id);
    if (!g) {
      g = { keys: { backbone: row.backbone, head: row.head, trainer: trainerOf(row), lr: row.lr }, rows: [] };
      groups.set(id, g);
    }
    g.rows.push(row);
  }
  return [...groups].map(([id, g]) => {
    const ok = g.rows.filter((r) => r.status === 'ok');
    const metrics = Object.fromEntries(
      Object.entries(GROUP_METRICS).map(([name, value]) => {
        const values = ok.map(value).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
        return [name, describeValues(values)];
      }),
    ) as Record<GroupMetric, MetricSummary | null>;
    return {
      id,
      ...g.keys,
      rows: g.rows.map((r) => r.id),
      seeds: ok.map((r) => r.seed),
      excluded: g.rows.filter((r) => r.status !== 'ok').map((r) => ({ id: r.id, status: r.status })),
      metrics,
    };
  });
}
