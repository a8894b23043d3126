import * as echarts from 'echarts';
import { groupId, type Group, type HeadComparison, type ResultRow, type RunResults } from '@headbench/results';
import { describeValues } from '@headbench/stats';

/** One chart, rendered to an SVG string, with the names of its series (what the browser test checks). */
export interface Chart {
  id: string;
  title: string;
  svg: string;
  series: string[];
}

// Rendered at this size; the page scales the SVG (viewBox) to its width.
const WIDTH = 1200;
const HEIGHT = 420;
const PALETTE = ['#5470c6', '#91cc75', '#fac858', '#ee6666', '#73c0de', '#3ba272', '#fc8452', '#9a60b4', '#ea7ccc'];
const VERDICT_COLOURS: Record<string, string> = { better: '#2e7d32', worse: '#c62828', 'no difference detected': '#616161' };

function render(id: string, title: string, option: echarts.EChartsCoreOption, series: string[], height = HEIGHT): Chart {
  // Server-side SVG rendering: no browser or canvas at build time, and the page works offline.
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: WIDTH, height });
  chart.setOption({ animation: false, color: PALETTE, textStyle: { fontFamily: 'sans-serif' }, title: { text: title, left: 'center', textStyle: { fontSize: 15 } }, ...option });
  const svg = chart.renderToSVGString();
  chart.dispose();
  return { id, title, svg, series };
}

/** How a row is called in legends: the combination without the backbone, trainer or seed when all rows share it. */
export function labelOf(row: ResultRow, rows: readonly ResultRow[]): string {
  const oneBackbone = rows.every((r) => r.backbone === row.backbone);
  // Rows from before the trainer axis trained with sgd.
  const trainer = (r: ResultRow) => r.trainer ?? 'sgd';
  const oneTrainer = rows.every((r) => trainer(r) === trainer(row));
  const oneSeed = rows.every((r) => r.seed === row.seed);
  return [oneBackbone ? '' : row.backbone, row.head, oneTrainer ? '' : trainer(row), `lr ${row.lr}`, oneSeed ? '' : `seed ${row.seed}`].filter(Boolean).join(' · ');
}

/** How a group is called: head and lr, with the backbone and the trainer when the run has several. */
export function groupLabel(group: Pick<Group, 'backbone' | 'head' | 'lr'> & { trainer?: string }, groups: readonly (Pick<Group, 'backbone'> & { trainer?: string })[]): string {
  const oneBackbone = groups.every((g) => g.backbone === group.backbone);
  const trainer = (g: { trainer?: string }) => g.trainer ?? 'sgd';
  const oneTrainer = groups.every((g) => trainer(g) === trainer(group));
  return [oneBackbone ? '' : group.backbone, group.head, oneTrainer ? '' : trainer(group), `lr ${group.lr}`].filter(Boolean).join(' · ');
}

type RenderApi = { value(i: number): number; coord(p: [number, number]): [number, number]; size(p: [number, number]): [number, number] };

/** Vertical error bars at category x (offset by a fraction of the category width): data [x, low, high]. */
function verticalErrorBars(name: string, data: [number, number, number][], offset = 0, colour = '#333') {
  return {
    type: 'custom',
    name,
    z: 10,
    encode: { x: 0, y: [1, 2] },
    data,
    renderItem: (_: unknown, api: RenderApi) => {
      const band = api.size([1, 0])[0];
      const lo = api.coord([api.value(0), api.value(1)]);
      const hi = api.coord([api.value(0), api.value(2)]);
      const x = lo[0] + offset * band;
      const cap = Math.min(10, band * 0.08);
      const style = { stroke: colour, lineWidth: 1.5 };
      return {
        type: 'group',
        children: [
          { type: 'line', shape: { x1: x, y1: lo[1], x2: x, y2: hi[1] }, style },
          { type: 'line', shape: { x1: x - cap, y1: lo[1], x2: x + cap, y2: lo[1] }, style },
          { type: 'line', shape: { x1: x - cap, y1: hi[1], x2: x + cap, y2: hi[1] }, style },
        ],
      };
    },
  };
}

const legendOnly = (names: string[]) => ({ bottom: 0, type: 'plain' as const, data: names });

function comparisonLabel(c: HeadComparison, all: readonly HeadComparison[]): string {
  const oneBackbone = all.every((x) => x.backbone === c.backbone);
  const oneTrainer = all.every((x) => (x.trainer ?? 'sgd') === (c.trainer ?? 'sgd'));
  const where = `${oneTrainer ? '' : ` · ${c.trainer ?? 'sgd'}`}${oneBackbone ? '' : ` · ${c.backbone}`}`;
  if (c.selection === 'per-lr') return `${c.candidate} vs ${c.baseline} · lr ${c.lr}${where}`;
  return `${c.candidate} (lr ${c.candidateLr}) vs ${c.baseline} (lr ${c.baselineLr}) · best lr, ${c.optimistic ? 'val, optimistic' : c.split}${where}`;
}

/**
 * The forest plot: each comparison's difference to the baseline in points with its 95% interval,
 * a line at zero; the colour is the verdict.
 */
export function forestPlot(results: RunResults): Chart | undefined {
  const all = results.comparisons ?? [];
  if (!all.length) return undefined;
  // Top to bottom in table order: ECharts draws the first category at the bottom.
  const ordered = [...all].reverse();
  const labels = ordered.map((c) => comparisonLabel(c, all));
  const verdicts = [...new Set(all.map((c) => c.verdict))];
  const title = `Difference to ${results.baseline} (accuracy points, 95% interval over seeds and images)`;
  const height = Math.max(220, 110 + 46 * ordered.length);
  // Zero inside the axis with room on both sides, so the line at zero never sits on the frame.
  const ends = [0, ...all.flatMap((c) => [100 * c.ci95[0], 100 * c.ci95[1]])];
  const span = Math.max(...ends) - Math.min(...ends) || 1;
  const pad = Math.max(1, 0.08 * span);
  // Axis ends on a round step (1, 2 or 5 times a power of ten), so the labels read -50, not -47.
  const raw = (span + 2 * pad) / 6;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((v) => v >= raw) ?? raw;
  return render(
    'forest',
    title,
    {
      grid: { left: 420, right: 40, top: 45, bottom: 60 },
      legend: legendOnly(verdicts),
      xAxis: { type: 'value', name: 'candidate − baseline (points)', nameLocation: 'middle', nameGap: 28, min: step * Math.floor((Math.min(...ends) - pad) / step), max: step * Math.ceil((Math.max(...ends) + pad) / step), interval: step },
      yAxis: { type: 'category', data: labels, axisLabel: { fontSize: 13 } },
      series: [
        ...verdicts.map((v) => ({
          type: 'custom',
          name: v,
          itemStyle: { color: VERDICT_COLOURS[v] },
          encode: { x: [0, 1], y: 2 },
          data: ordered.flatMap((c, i) => (c.verdict === v ? [[100 * c.ci95[0], 100 * c.ci95[1], i, 100 * c.difference]] : [])),
          renderItem: (_: unknown, api: RenderApi) => {
            const lo = api.coord([api.value(0), api.value(2)]);
            const hi = api.coord([api.value(1), api.value(2)]);
            const mid = api.coord([api.value(3), api.value(2)]);
            const style = { stroke: VERDICT_COLOURS[v], lineWidth: 2.5 };
            return {
              type: 'group',
              children: [
                { type: 'line', shape: { x1: lo[0], y1: lo[1], x2: hi[0], y2: hi[1] }, style },
                { type: 'line', shape: { x1: lo[0], y1: lo[1] - 7, x2: lo[0], y2: lo[1] + 7 }, style },
                { type: 'line', shape: { x1: hi[0], y1: hi[1] - 7, x2: hi[0], y2: hi[1] + 7 }, style },
                { type: 'circle', shape: { cx: mid[0], cy: mid[1], r: 6 }, style: { fill: VERDICT_COLOURS[v] } },
              ],
            };
          },
        })),
        { type: 'line', name: 'zero', data: [], markLine: { silent: true, symbol: 'none', label: { show: false }, lineStyle: { color: '#000', type: 'solid', width: 1.5 }, data: [{ xAxis: 0 }] } },
      ],
    },
    verdicts,
    height,
  );
}

/** Mean final val accuracy per group (and test accuracy when there is a test split) with 95% intervals over seeds. */
export function accuracyBars(results: RunResults): Chart {
  const groups = (results.groups ?? []).filter((g) => g.metrics.finalValAccuracy);
  const labels = groups.map((g) => groupLabel(g, groups));
  const withTest = groups.some((g) => g.metrics.testAccuracy);
  const bar = (name: string, metric: 'finalValAccuracy' | 'testAccuracy', offset: number) => {
    const m = (g: Group) => g.metrics[metric];
    return [
      { type: 'bar', name, barWidth: withTest ? '30%' : '50%', barGap: '0%', data: groups.map((g) => m(g)?.mean ?? null), label: { show: true, position: 'insideBottom', formatter: (p: { value: number }) => (p.value === null ? '' : p.value.toFixed(3)), fontSize: 11 } },
      verticalErrorBars(`${name} 95% interval`, groups.flatMap((g, i) => (m(g)?.ci95 ? [[i, Math.max(0, m(g)!.ci95![0]), Math.min(1, m(g)!.ci95![1])] as [number, number, number]] : [])), offset),
    ];
  };
  const names = ['final val accuracy', ...(withTest ? ['test accuracy'] : [])];
  const seeds = Math.max(...groups.map((g) => g.seeds.length), 0);
  return render(
    'accuracy',
    `Accuracy per head and lr: mean over seeds${seeds > 1 ? ', error bars: 95% interval (Student t over seeds)' : ' (one seed: no interval)'}`,
    {
      legend: legendOnly(names),
      grid: { left: 60, right: 20, top: 45, bottom: 80 },
      xAxis: { type: 'category', data: labels, axisLabel: { interval: 0, fontSize: 12, rotate: labels.length > 6 ? 15 : 0 } },
      yAxis: { type: 'value', name: 'accuracy', min: 0, max: 1 },
      series: [...bar('final val accuracy', 'finalValAccuracy', withTest ? -0.15 : 0), ...(withTest ? bar('test accuracy', 'testAccuracy', 0.15) : [])],
    },
    names,
  );
}

type Metric = 'trainAccuracy' | 'valAccuracy' | 'trainLoss' | 'valLoss';

/** Per group: the mean over seeds at each epoch and its 95% interval (null with one seed). */
function meanCurve(rows: readonly ResultRow[], metric: Metric) {
  const epochs = Math.max(0, ...rows.map((r) => r.history.length));
  return Array.from({ length: epochs }, (_, k) => {
    const values = rows.flatMap((r) => r.history.filter((h) => h.epoch === k + 1).map((h) => h[metric])).filter(Number.isFinite);
    return { epoch: k + 1, summary: describeValues(values) };
  }).filter((p) => p.summary);
}

function curve(id: string, title: string, metric: Metric, results: RunResults, logScale: boolean): Chart {
  // The rows the group statistics are over: finished ones (a diverged seed is listed as left out).
  const rows = results.rows.filter((r) => r.history.length > 0 && r.status === 'ok');
  const groups = (results.groups ?? []).filter((g) => rows.some((r) => groupId(r) === g.id));
  const names = groups.map((g) => groupLabel(g, groups));
  // Bands stay inside the axis: accuracies in [0, 1], losses above 0 on the log scale.
  const floor = (v: number) => (logScale ? Math.max(v, 1e-6) : metric.endsWith('Accuracy') ? Math.min(1, Math.max(0, v)) : Math.max(0, v));
  const multiSeed = groups.some((g) => g.rows.length > 1);
  // One colour per head (and backbone), one line style per lr (and trainer): a head's curves read as a family.
  const families = [...new Set(groups.map((g) => `${g.backbone}|${g.head}`))];
  const lrs = [...new Set(groups.map((g) => `${g.trainer}|${g.lr}`))];
  const styles = ['solid', 'dashed', 'dotted'] as const;
  const series = groups.flatMap((g, i) => {
    const points = meanCurve(rows.filter((r) => groupId(r) === g.id), metric);
    const colour = PALETTE[families.indexOf(`${g.backbone}|${g.head}`) % PALETTE.length];
    const style = styles[lrs.indexOf(`${g.trainer}|${g.lr}`) % styles.length];
    const band = points.filter((p) => p.summary!.ci95);
    const polygon = [...band.map((p) => [p.epoch, floor(p.summary!.ci95![1])]), ...[...band].reverse().map((p) => [p.epoch, floor(p.summary!.ci95![0])])] as [number, number][];
    return [
      { type: 'line', name: names[i], showSymbol: true, itemStyle: { color: colour }, lineStyle: { width: 2.5, type: style }, data: points.map((p) => [p.epoch, floor(p.summary!.mean)]) },
      ...(band.length > 1
        ? [
            {
              type: 'custom',
              name: `${names[i]} band`,
              silent: true,
              clip: true,
              data: [polygon[0]],
              encode: { x: 0, y: 1 },
              renderItem: (_: unknown, api: RenderApi) => ({ type: 'polygon', shape: { points: polygon.map((p) => api.coord(p)) }, style: { fill: colour, opacity: 0.18 } }),
            },
          ]
        : []),
    ];
  });
  return render(
    id,
    `${title}${multiSeed ? ': mean over seeds, band: 95% interval' : ''}`,
    {
      legend: legendOnly(names),
      grid: { left: 60, right: 20, top: 45, bottom: 70 },
      xAxis: { type: 'value', name: 'epoch', nameLocation: 'middle', nameGap: 25, minInterval: 1, min: 1 },
      yAxis: logScale ? { type: 'log', name: metric } : { type: 'value', name: metric, min: 0, max: metric.endsWith('Accuracy') ? 1 : undefined },
      series,
    },
    names,
  );
}

export function learningCurves(results: RunResults): Chart[] {
  return [
    curve('val-accuracy', 'Validation accuracy per epoch', 'valAccuracy', results, false),
    curve('train-accuracy', 'Training accuracy per epoch (training mode)', 'trainAccuracy', results, false),
    curve('val-loss', 'Validation loss per epoch (log scale)', 'valLoss', results, true),
    curve('train-loss', 'Training loss per epoch (log scale)', 'trainLoss', results, true),
  ];
}

export function accuracyVersusParams(results: RunResults): Chart {
  const groups = (results.groups ?? []).filter((g) => g.metrics.finalValAccuracy);
  const params = new Map(results.rows.filter((r) => r.params).map((r) => [groupId(r), r.params!.total]));
  const done = groups.filter((g) => params.has(g.id));
  const names = done.map((g) => groupLabel(g, done));
  return render(
    'accuracy-vs-params',
    'Final validation accuracy (mean over seeds, 95% interval) against parameter count',
    {
      legend: legendOnly(names),
      grid: { left: 60, right: 30, top: 45, bottom: 70 },
      xAxis: { type: 'log', name: 'parameters', nameLocation: 'middle', nameGap: 25 },
      yAxis: { type: 'value', name: 'val accuracy', min: 0, max: 1 },
      series: done.flatMap((g, i) => {
        const m = g.metrics.finalValAccuracy!;
        const x = params.get(g.id)!;
        const colour = PALETTE[i % PALETTE.length];
        return [
          { type: 'scatter', name: names[i], symbolSize: 12, itemStyle: { color: colour }, data: [[x, m.mean]] },
          ...(m.ci95
            ? [
                {
                  type: 'custom',
                  name: `${names[i]} interval`,
                  data: [[x, m.ci95[0], m.ci95[1]]],
                  encode: { x: 0, y: [1, 2] },
                  renderItem: (_: unknown, api: RenderApi) => {
                    const lo = api.coord([api.value(0), api.value(1)]);
                    const hi = api.coord([api.value(0), api.value(2)]);
                    return { type: 'line', shape: { x1: lo[0], y1: lo[1], x2: hi[0], y2: hi[1] }, style: { stroke: colour, lineWidth: 2 } };
                  },
                },
              ]
            : []),
        ];
      }),
    },
    names,
  );
}

export function stepTimeBars(results: RunResults): Chart {
  const groups = (results.groups ?? []).filter((g) => g.metrics.medianStepMs);
  const names = groups.map((g) => groupLabel(g, groups));
  const p99 = (r: ResultRow) => {
    const s = [...(r.stepTime?.samplesMs ?? [])].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)] ?? Number.NaN;
  };
  const p99Of = (g: Group) => {
    const v = results.rows.filter((r) => g.rows.includes(r.id) && r.status === 'ok' && r.stepTime?.samples).map(p99).filter(Number.isFinite);
    return v.length ? Math.round(v.reduce((s, x) => s + x, 0) / v.length) : null;
  };
  return render(
    'step-time',
    'Training step time (ms): median and p99, mean over seeds',
    {
      legend: legendOnly(['p50', 'p99']),
      grid: { left: 60, right: 20, top: 45, bottom: 90 },
      xAxis: { type: 'category', data: names, axisLabel: { interval: 0, rotate: names.length > 6 ? 15 : 0, fontSize: 11 } },
      yAxis: { type: 'value', name: 'ms' },
      series: [
        { name: 'p50', type: 'bar', barWidth: '30%', barGap: '0%', data: groups.map((g) => Math.round(g.metrics.medianStepMs!.mean)) },
        { name: 'p99', type: 'bar', barWidth: '30%', barGap: '0%', data: groups.map(p99Of) },
        verticalErrorBars('p50 95% interval', groups.flatMap((g, i) => (g.metrics.medianStepMs!.ci95 ? [[i, g.metrics.medianStepMs!.ci95[0], g.metrics.medianStepMs!.ci95[1]] as [number, number, number]] : [])), -0.15),
      ],
    },
    ['p50', 'p99'],
  );
}
