import { benjaminiHochberg, imageShift, shiftEstimate, splitSegment, type NightValue, type SegmentationOptions, type SplitPoint } from './changes.js';
import type { HistoryData, StoredNight, StoredRecord, StoredRow } from './database.js';
import { decodeCorrect } from './upstream.js';

/** The metrics `check` follows, per cell. Timings are compared only within one testbed. */
export const METRICS = {
  finalValAccuracy: { title: 'final val accuracy', better: 'higher', timing: false, split: 'val' },
  testAccuracy: { title: 'test accuracy', better: 'higher', timing: false, split: 'test' },
  medianStepMs: { title: 'median step ms', better: 'lower', timing: true, split: undefined },
  inferenceMs: { title: 'inference ms', better: 'lower', timing: true, split: undefined },
} as const;
export type Metric = keyof typeof METRICS;

export interface CheckOptions {
  /** The false discovery rate over every series tested (default 0.05). */
  fdr?: number;
  /** The fewest nights on each side of a change (default 2). */
  minNights?: number;
}

export interface Change {
  metric: Metric;
  backbone: string;
  head: string;
  trainer: string;
  lr: number;
  /** For timings: the testbed whose nights were compared. */
  testbed?: string;
  /** The first night after the change. */
  night: number;
  commit: string;
  time: string;
  direction: 'better' | 'worse';
  /** Mean over the nights between the previous change (or the first night) and this one, and from this one to the next: accuracy as a fraction, timings in ms (geometric means). */
  before: number;
  after: number;
  /** after - before for accuracy (a fraction); after / before for timings. */
  change: number;
  /** The 95% interval of `change`. */
  interval: [number, number];
  /** Where the noise of the interval came from: the nights' spread or the seeds' disagreement (and the images, for accuracy). */
  noise: 'nights' | 'seeds';
  nightsBefore: number;
  nightsAfter: number;
  /** The larger of the permutation test's and the shift test's p-values, and the level the false discovery rate allowed. */
  p: number;
  level: number;
  /** For accuracy: the paired per-image test between the nights before and after, and the images that flipped (indices in the split's order). */
  images?: { split: 'val' | 'test'; fingerprint: string; images: number; p: number; worse: number[]; better: number[] };
  /** True when the newest night revealed it: a check without that night did not find it. */
  new: boolean;
}

export interface CheckResult {
  nights: number;
  newest?: { night: number; commit: string; time: string };
  series: number;
  fdr: number;
  level: number;
  changes: Change[];
}

interface Series {
  metric: Metric;
  cell: { backbone: string; head: string; trainer: string; lr: number };
  testbed?: string;
  nights: StoredNight[];
  values: NightValue[];
  /** The rows of each night, for the per-image test. */
  rows: StoredRow[][];
}

const cellKey = (r: Pick<StoredRow, 'backbone' | 'head' | 'trainer' | 'lr'>) => `${r.backbone}|${r.head}|${r.trainer}|lr=${r.lr}`;
const seriesKey = (s: Pick<Series, 'metric' | 'cell' | 'testbed'>) => `${cellKey(s.cell)}|${s.metric}${s.testbed ? `|${s.testbed}` : ''}`;

function buildSeries(data: HistoryData): Series[] {
  const nightOf = new Map(data.nights.map((n) => [n.night, n]));
  const order = new Map(data.nights.map((n, i) => [n.night, i]));
  const byCell = new Map<string, StoredRow[]>();
  for (const row of data.rows) {
    if (row.status !== 'ok') continue;
    const list = byCell.get(cellKey(row)) ?? [];
    list.push(row);
    byCell.set(cellKey(row), list);
  }
  const series: Series[] = [];
  for (const rows of byCell.values()) {
    const { backbone, head, trainer, lr } = rows[0]!;
    for (const metric of Object.keys(METRICS) as Metric[]) {
      const m = METRICS[metric];
      const groups = new Map<string, Map<number, StoredRow[]>>();
      for (const row of rows) {
        if (row[metric] === null || !(row[metric]! > 0 || !m.timing)) continue;
        const testbed = m.timing ? nightOf.get(row.night)!.testbed : '';
        const nights = groups.get(testbed) ?? new Map<number, StoredRow[]>();
        nights.set(row.night, [...(nights.get(row.night) ?? []), row]);
        groups.set(testbed, nights);
      }
      for (const [testbed, nights] of groups) {
        const sorted = [...nights.keys()].sort((a, b) => order.get(a)! - order.get(b)!);
        const value = (r: StoredRow) => (m.timing ? Math.log(r[metric]!) : r[metric]!);
        series.push({
          metric,
          cell: { backbone, head, trainer, lr },
          ...(m.timing ? { testbed } : {}),
          nights: sorted.map((n) => nightOf.get(n)!),
          rows: sorted.map((n) => nights.get(n)!),
          values: sorted.map((n) => {
            const rs = nights.get(n)!;
            return { value: rs.reduce((s, r) => s + value(r), 0) / rs.length, bySeed: new Map(rs.map((r) => [r.seed, value(r)])) };
          }),
        });
      }
    }
  }
  return series;
}

/** Decoded per-image records, by night and row. */
function recordIndex(records: readonly StoredRecord[]) {
  const byKey = new Map(records.map((r) => [`${r.night}|${r.rowId}|${r.split}`, r]));
  const decoded = new Map<string, Uint8Array>();
  return (night: number, rowId: string, split: 'val' | 'test'): { record: StoredRecord; correct: Uint8Array } | undefined => {
    const key = `${night}|${rowId}|${split}`;
    const record = byKey.get(key);
    if (!record) return undefined;
    let correct = decoded.get(key);
    if (!correct) decoded.set(key, (correct = decodeCorrect(record)));
    return { record, correct };
  };
}

type Records = ReturnType<typeof recordIndex>;

interface Evaluated {
  split: SplitPoint;
  p: number;
}

/** The shift at `index` between [start, index) and [index, end), with the per-image test for accuracy. */
function measure(s: Series, start: number, index: number, end: number, records: Records) {
  const split = METRICS[s.metric].split;
  let images: Change['images'] | undefined;
  let extra: { variance: number; df: number } | undefined;
  if (split) {
    const side = (from: number, to: number) =>
      s.rows.slice(from, to).flatMap((rows) => rows.map((r) => records(r.night, r.id, split)).filter((x) => x !== undefined));
    const before = side(start, index);
    const after = side(index, end);
    const fingerprints = new Set([...before, ...after].map((x) => x.record.fingerprint));
    const sizes = new Set([...before, ...after].map((x) => x.correct.length));
    if (before.length && after.length && fingerprints.size === 1 && sizes.size === 1) {
      const shift = imageShift(before.map((x) => x.correct), after.map((x) => x.correct));
      extra = { variance: shift.variance, df: shift.df };
      images = { split, fingerprint: [...fingerprints][0]!, images: shift.images, p: shift.p, worse: shift.worse, better: shift.better };
    }
  }
  const shift = shiftEstimate(s.values.slice(start, index), s.values.slice(index, end), extra);
  return { shift, images };
}

function evaluate(s: Series, start: number, end: number, options: SegmentationOptions, records: Records): Evaluated | undefined {
  const x = s.values.map((v) => v.value);
  const split = splitSegment(x, start, end, { ...options, key: `${seriesKey(s)}|${options.key}` });
  if (!split) return undefined;
  const { shift } = measure(s, start, split.index, end, records);
  // Both must hold: the nights before and after are not exchangeable (permutation test), and the
  // shift stands out of the noise of nights, seeds and images (an intersection-union test: the
  // larger p-value).
  return { split, p: Math.max(split.p, shift.p) };
}

/**
 * Finds the change points of every series (cell x metric, x testbed for timings): E-divisive's
 * best split, a permutation test of it and a test of the shift against the nights' and seeds'
 * noise, the false discovery rate over all series (Benjamini-Hochberg), then binary segmentation
 * of the series that changed at the level the FDR gave.
 */
function detect(data: HistoryData, options: CheckOptions): { series: number; level: number; found: { s: Series; indices: number[]; p: Map<number, number> }[] } {
  const fdr = options.fdr ?? 0.05;
  const minSize = options.minNights ?? 2;
  const all = buildSeries(data).filter((s) => s.values.length >= 2 * minSize);
  const records = recordIndex(data.records);
  // Enough permutations that the smallest p-value can pass Benjamini-Hochberg's first threshold.
  const permutations = Math.min(99_999, Math.max(999, Math.ceil((20 * all.length) / fdr)));
  const seg: SegmentationOptions = { minSize, key: 'first', permutations };
  const first = all.map((s) => evaluate(s, 0, s.values.length, seg, records));
  const level = benjaminiHochberg(first.map((f) => f?.p ?? 1), fdr);
  const found: { s: Series; indices: number[]; p: Map<number, number> }[] = [];
  all.forEach((s, i) => {
    const f = first[i];
    if (!f || f.p > level) return;
    const p = new Map([[f.split.index, f.p]]);
    const queue: [number, number][] = [[0, f.split.index], [f.split.index, s.values.length]];
    while (queue.length) {
      const [a, b] = queue.shift()!;
      const next = evaluate(s, a, b, { ...seg, key: `${a}-${b}` }, records);
      if (next && next.p <= level) {
        p.set(next.split.index, next.p);
        queue.push([a, next.split.index], [next.split.index, b]);
      }
    }
    found.push({ s, indices: [...p.keys()].sort((u, v) => u - v), p });
  });
  return { series: all.length, level, found };
}

function changesOf(data: HistoryData, options: CheckOptions): { series: number; level: number; changes: Omit<Change, 'new'>[] } {
  const { series, level, found } = detect(data, options);
  const records = recordIndex(data.records);
  const changes: Omit<Change, 'new'>[] = [];
  for (const { s, indices, p } of found) {
    const m = METRICS[s.metric];
    indices.forEach((index, j) => {
      // Each change is described between its neighbours, as Otava does after its merge step.
      const start = indices[j - 1] ?? 0;
      const end = indices[j + 1] ?? s.values.length;
      const { shift, images } = measure(s, start, index, end, records);
      const night = s.nights[index]!;
      const up = shift.difference > 0;
      const direction = (m.better === 'higher') === up ? 'better' : 'worse';
      changes.push({
        metric: s.metric,
        ...s.cell,
        ...(s.testbed !== undefined ? { testbed: s.testbed } : {}),
        night: night.night,
        commit: night.commit,
        time: night.time,
        direction,
        before: m.timing ? Math.exp(shift.before) : shift.before,
        after: m.timing ? Math.exp(shift.after) : shift.after,
        change: m.timing ? Math.exp(shift.difference) : shift.difference,
        interval: m.timing ? [Math.exp(shift.interval[0]), Math.exp(shift.interval[1])] : shift.interval,
        noise: shift.noise,
        nightsBefore: index - start,
        nightsAfter: end - index,
        p: p.get(index)!,
        level,
        ...(images ? { images } : {}),
      });
    });
  }
  return { series, level, changes };
}

/**
 * `history check`: every change point, and which of them the newest night revealed (a check of
 * the history without that night did not find a change of that series within one night of it).
 */
export function checkHistory(data: HistoryData, options: CheckOptions = {}): CheckResult {
  const fdr = options.fdr ?? 0.05;
  const now = changesOf(data, options);
  const newest = data.nights.at(-1);
  let previous: Omit<Change, 'new'>[] = [];
  if (newest && data.nights.length > 1) {
    const without = { nights: data.nights.slice(0, -1), rows: data.rows.filter((r) => r.night !== newest.night), records: data.records.filter((r) => r.night !== newest.night) };
    previous = changesOf(without, options).changes;
  }
  const position = new Map(data.nights.map((n, i) => [n.night, i]));
  const key = (c: Omit<Change, 'new'>) => `${cellKey(c)}|${c.metric}|${c.testbed ?? ''}|${c.direction}`;
  const changes = now.changes.map((c) => ({
    ...c,
    new: !previous.some((p) => key(p) === key(c) && Math.abs(position.get(p.night)! - position.get(c.night)!) <= 1),
  }));
  changes.sort((a, b) => position.get(a.night)! - position.get(b.night)! || key(a).localeCompare(key(b)));
  return {
    nights: data.nights.length,
    ...(newest ? { newest: { night: newest.night, commit: newest.commit, time: newest.time } } : {}),
    series: now.series,
    fdr,
    level: now.level,
    changes,
  };
}
