import * as echarts from 'echarts';
import type { ResultRow } from '@headbench/core';

/** One chart, rendered to an SVG string, with the names of its series (what the browser test checks). */
export interface Chart {
  id: string;
  title: string;
  svg: string;
  series: string[];
}

const WIDTH = 720;
const HEIGHT = 360;

function render(id: string, title: string, option: echarts.EChartsCoreOption, series: string[]): Chart {
  // Server-side SVG rendering: no browser or canvas at build time, and the page works offline.
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: WIDTH, height: HEIGHT });
  chart.setOption({ animation: false, textStyle: { fontFamily: 'sans-serif' }, ...option });
  const svg = chart.renderToSVGString();
  chart.dispose();
  return { id, title, svg, series };
}

/** How a row is called in legends: the combination without the backbone when all rows share it. */
export function labelOf(row: ResultRow, rows: readonly ResultRow[]): string {
  const oneBackbone = rows.every((r) => r.backbone === row.backbone);
  const oneSeed = rows.every((r) => r.seed === row.seed);
  return [oneBackbone ? '' : row.backbone, row.head, `lr ${row.lr}`, oneSeed ? '' : `seed ${row.seed}`].filter(Boolean).join(' · ');
}

type Metric = 'trainAccuracy' | 'valAccuracy' | 'trainLoss' | 'valLoss';

function curve(id: string, title: string, metric: Metric, rows: readonly ResultRow[], logScale: boolean): Chart {
  const trained = rows.filter((r) => r.history.length > 0);
  const names = trained.map((r) => labelOf(r, rows));
  return render(
    id,
    title,
    {
      title: { text: title, left: 'center', textStyle: { fontSize: 14 } },
      legend: { bottom: 0, type: 'plain' },
      grid: { left: 60, right: 20, top: 40, bottom: 70 },
      xAxis: { type: 'value', name: 'epoch', nameLocation: 'middle', nameGap: 25, minInterval: 1, min: 1 },
      yAxis: logScale ? { type: 'log', name: metric } : { type: 'value', name: metric, min: 0, max: metric.endsWith('Accuracy') ? 1 : undefined },
      series: trained.map((r, i) => ({
        name: names[i],
        type: 'line',
        showSymbol: true,
        data: r.history.map((h) => [h.epoch, logScale ? Math.max(h[metric], 1e-6) : h[metric]]),
      })),
    },
    names,
  );
}

export function learningCurves(rows: readonly ResultRow[]): Chart[] {
  return [
    curve('val-accuracy', 'Validation accuracy per epoch', 'valAccuracy', rows, false),
    curve('train-accuracy', 'Training accuracy per epoch (training mode)', 'trainAccuracy', rows, false),
    curve('val-loss', 'Validation loss per epoch (log scale)', 'valLoss', rows, true),
    curve('train-loss', 'Training loss per epoch (log scale)', 'trainLoss', rows, true),
  ];
}

export function accuracyVersusParams(rows: readonly ResultRow[]): Chart {
  const done = rows.filter((r) => r.params && r.finalValAccuracy !== null);
  const names = done.map((r) => labelOf(r, rows));
  return render(
    'accuracy-vs-params',
    'Final validation accuracy against parameter count',
    {
      title: { text: 'Final validation accuracy against parameter count', left: 'center', textStyle: { fontSize: 14 } },
      legend: { bottom: 0 },
      grid: { left: 60, right: 30, top: 40, bottom: 70 },
      xAxis: { type: 'log', name: 'parameters', nameLocation: 'middle', nameGap: 25 },
      yAxis: { type: 'value', name: 'val accuracy', min: 0, max: 1 },
      series: done.map((r, i) => ({ name: names[i], type: 'scatter', symbolSize: 12, data: [[r.params!.total, r.finalValAccuracy]] })),
    },
    names,
  );
}

export function stepTimeBars(rows: readonly ResultRow[]): Chart {
  const timed = rows.filter((r) => r.stepTime && r.stepTime.samples > 0);
  const names = timed.map((r) => labelOf(r, rows));
  const p99 = (r: ResultRow) => {
    const s = [...(r.stepTime?.samplesMs ?? [])].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)] ?? Number.NaN;
  };
  return render(
    'step-time',
    'Training step time (ms): median and p99',
    {
      title: { text: 'Training step time (ms): median and p99', left: 'center', textStyle: { fontSize: 14 } },
      legend: { bottom: 0 },
      grid: { left: 60, right: 20, top: 40, bottom: 90 },
      xAxis: { type: 'category', data: names, axisLabel: { rotate: 15, fontSize: 10 } },
      yAxis: { type: 'value', name: 'ms' },
      series: [
        { name: 'p50', type: 'bar', data: timed.map((r) => Math.round(r.stepTime!.medianMs)) },
        { name: 'p99', type: 'bar', data: timed.map((r) => Math.round(p99(r))) },
      ],
    },
    ['p50', 'p99'],
  );
}
