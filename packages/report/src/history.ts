import * as echarts from 'echarts';
import { formatTable } from '@headbench/results';
import { CHANGE_COLUMNS, METRICS, type CellHistory, type Change, type HistoryReport } from '@headbench/history';
import type { Chart } from './charts.js';

const WIDTH = 1200;
const HEIGHT = 360;
const PALETTE = ['#5470c6', '#91cc75', '#fac858', '#ee6666', '#73c0de', '#3ba272', '#fc8452', '#9a60b4', '#ea7ccc'];
const CHANGE_COLOURS = { better: '#2e7d32', worse: '#c62828' } as const;

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function render(id: string, title: string, option: echarts.EChartsCoreOption, series: string[]): Chart {
  // Server-side SVG, as the run report: no browser at build time, no scripts in the page.
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: WIDTH, height: HEIGHT });
  chart.setOption({ animation: false, color: PALETTE, textStyle: { fontFamily: 'sans-serif' }, title: { text: title, left: 'center', textStyle: { fontSize: 15 } }, ...option });
  const svg = chart.renderToSVGString();
  chart.dispose();
  return { id, title, svg, series };
}

const cellLabel = (c: Pick<CellHistory, 'backbone' | 'head' | 'trainer' | 'lr'>) => `${c.backbone} · ${c.head} · ${c.trainer} · lr ${c.lr}`;
const cellId = (c: Pick<CellHistory, 'backbone' | 'head' | 'trainer' | 'lr'>) => `${c.backbone}-${c.head}-${c.trainer}-${c.lr}`.replace(/[^A-Za-z0-9.-]+/g, '_');

/** Vertical lines at the first night after each change, labelled with its commit, coloured by direction. */
function changeLines(changes: readonly Change[], categories: readonly string[], nightLabel: (night: number) => string | undefined) {
  return changes
    .map((c) => ({ c, x: nightLabel(c.night) }))
    .filter((m): m is { c: Change; x: string } => m.x !== undefined && categories.includes(m.x))
    .map(({ c, x }) => ({ xAxis: x, name: `${c.commit} ${c.direction}`, lineStyle: { color: CHANGE_COLOURS[c.direction], type: 'dashed', width: 2 }, label: { formatter: `${METRICS[c.metric].title}: ${c.direction} at ${c.commit}`, color: CHANGE_COLOURS[c.direction], position: 'insideEndTop' } }));
}

/** Accuracy per night as the mean over seeds with its 95% band, val and test, with the accuracy changes. */
export function accuracyChart(cell: CellHistory): Chart {
  const categories = cell.nights.map((n) => `#${n.night} ${n.commit}`);
  const label = (night: number) => categories[cell.nights.findIndex((n) => n.night === night)];
  const series: object[] = [];
  const names: string[] = [];
  for (const [key, name] of [['val', 'final val accuracy'], ['test', 'test accuracy']] as const) {
    const points = cell.nights.map((n) => n[key]);
    if (!points.some(Boolean)) continue;
    const colour = PALETTE[key === 'val' ? 0 : 1]!;
    // The band: a transparent low line and the band's height stacked on it.
    series.push({ type: 'line', name: `${name} band low`, stack: key, data: points.map((p) => p?.low ?? p?.mean ?? null), lineStyle: { opacity: 0 }, itemStyle: { color: colour }, symbol: 'none', silent: true });
    series.push({ type: 'line', name: `${name} 95% band over seeds`, stack: key, data: points.map((p) => (p && p.low !== null && p.high !== null ? p.high - p.low : 0)), lineStyle: { opacity: 0 }, itemStyle: { color: colour, opacity: 0.3 }, areaStyle: { color: colour, opacity: 0.2 }, symbol: 'none' });
    const changes = cell.changes.filter((c) => METRICS[c.metric].split === key);
    series.push({ type: 'line', name, data: points.map((p) => p?.mean ?? null), lineStyle: { color: colour }, itemStyle: { color: colour }, markLine: { symbol: 'none', data: changeLines(changes, categories, label) } });
    names.push(name, `${name} 95% band over seeds`);
  }
  return render(`accuracy-${cellId(cell)}`, `${cellLabel(cell)}: accuracy per night (mean over seeds, 95% band)`, {
    grid: { left: 60, right: 30, top: 50, bottom: 80 },
    legend: { bottom: 0, data: names },
    xAxis: { type: 'category', data: categories, axisLabel: { rotate: 45 } },
    yAxis: { type: 'value', scale: true, name: 'accuracy' },
    series,
  }, names);
}

/** Median step and inference time per night, one line each per testbed, with the timing changes. */
export function timingChart(cell: CellHistory, testbeds: readonly string[]): Chart {
  const categories = cell.nights.map((n) => `#${n.night} ${n.commit}`);
  const label = (night: number) => categories[cell.nights.findIndex((n) => n.night === night)];
  const series: object[] = [];
  const names: string[] = [];
  for (const [key, what, metric] of [['stepMs', 'median step', 'medianStepMs'], ['inferenceMs', 'inference p50', 'inferenceMs']] as const) {
    for (const testbed of testbeds) {
      const data = cell.nights.map((n) => (n.testbed === testbed ? (n[key]?.mean ?? null) : null));
      if (!data.some((d) => d !== null)) continue;
      const name = testbeds.length > 1 ? `${what} · ${testbed}` : what;
      const changes = cell.changes.filter((c) => c.metric === metric && c.testbed === testbed);
      series.push({ type: 'line', name, data, connectNulls: false, markLine: { symbol: 'none', data: changeLines(changes, categories, label) } });
      names.push(name);
    }
  }
  return render(`timing-${cellId(cell)}`, `${cellLabel(cell)}: step and inference time per night (ms, mean over seeds)`, {
    grid: { left: 60, right: 30, top: 50, bottom: 80 },
    legend: { bottom: 0, data: names },
    xAxis: { type: 'category', data: categories, axisLabel: { rotate: 45 } },
    yAxis: { type: 'value', scale: true, name: 'ms' },
    series,
  }, names);
}

function figure(chart: Chart): string {
  return `<figure class="chart" data-chart="${chart.id}" data-series="${escape(JSON.stringify(chart.series))}">\n${chart.svg}\n</figure>`;
}

function flipped(c: Change): string {
  if (!c.images || (!c.images.worse.length && !c.images.better.length)) return '';
  const list = (ids: number[]) => (ids.length ? ids.map((i) => `#${i}`).join(', ') : 'none');
  return `<p class="flips" data-change="${escape(`${c.metric}-${c.night}`)}">${escape(METRICS[c.metric].title)} from night #${c.night} (${escape(c.commit)}): ${c.images.split} images (by position in the split, ${escape(c.images.fingerprint)}) right before and wrong after: ${escape(list(c.images.worse))}; wrong before and right after: ${escape(list(c.images.better))}. Paired per-image test p = ${c.images.p.toPrecision(2)}.</p>`;
}

function changesTable(changes: readonly Change[]): string {
  if (!changes.length) return '<p>No change point.</p>';
  return `<table id="changes">
<thead><tr>${CHANGE_COLUMNS.map((c) => `<th>${escape(c.title)}</th>`).join('')}</tr></thead>
<tbody>
${changes.map((ch) => `<tr class="change-${ch.direction}">${CHANGE_COLUMNS.map((c) => `<td>${escape(String(c.value(ch)))}</td>`).join('')}</tr>`).join('\n')}
</tbody>
</table>`;
}

/** The charts of the history page, in page order: per cell, accuracy then timings. */
export function historyCharts(report: HistoryReport): Chart[] {
  return report.cells.flatMap((cell) => [accuracyChart(cell), timingChart(cell, report.testbeds)]);
}

/**
 * The history page: the change points first (a table), then per cell its accuracy per night with
 * the band over seeds and its timings per testbed, change points marked with their commit, and
 * for an accuracy change the images that flipped. Self-contained: SVG and CSS, no scripts.
 */
export function renderHistoryHtml(report: HistoryReport, title = 'headbench history'): string {
  const first = report.nights[0];
  const last = report.nights.at(-1);
  const cells = report.cells.map((cell) => {
    const [accuracy, timing] = [accuracyChart(cell), timingChart(cell, report.testbeds)];
    return `<section class="cell" id="cell-${cellId(cell)}">
<h2>${escape(cellLabel(cell))}</h2>
${figure(accuracy)}
${cell.changes.map(flipped).filter(Boolean).join('\n')}
${figure(timing)}
</section>`;
  });
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)}</title>
<style>
body { font-family: sans-serif; margin: 1.5rem 2rem; color: #222; max-width: 1800px; }
h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
figure.chart { margin: 0.5rem 0; }
figure.chart svg { width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: left; }
tr.change-worse td:first-child { color: #c62828; font-weight: bold; }
tr.change-better td:first-child { color: #2e7d32; font-weight: bold; }
.note, .flips { color: #555; max-width: 70rem; }
</style>
</head>
<body>
<h1>${escape(title)}</h1>
<p>${report.nights.length} nights${first && last ? `, ${escape(first.time.slice(0, 10))} (${escape(first.commit)}) to ${escape(last.time.slice(0, 10))} (${escape(last.commit)})` : ''}; testbeds: ${escape(report.testbeds.join(', ') || 'none')}.</p>
<h2>Change points</h2>
${changesTable(report.check.changes)}
<p class="note">${escape(NOTE)}</p>
${cells.join('\n')}
</body>
</html>
`;
}

const NOTE =
  'A change point is the first night after which a cell\'s series shifted: E-divisive means places it, a permutation test of the nights and a test of the shift against the larger of the nights\' spread and the seeds\' disagreement (and the images, paired, for accuracy) must both hold, at a false discovery rate over every series checked. Timings are compared within one testbed. "new": the newest night revealed it.';

/** The Markdown summary for a job or PR comment: the change points, the new ones first. */
export function renderHistoryMarkdown(report: HistoryReport, title = 'headbench history'): string {
  const changes = [...report.check.changes].sort((a, b) => Number(b.new) - Number(a.new));
  const fresh = changes.filter((c) => c.new);
  const last = report.nights.at(-1);
  const lines = [
    `## ${title}`,
    '',
    `${report.nights.length} nights${last ? `, newest ${last.commit} (${last.time.slice(0, 10)})` : ''}: ${changes.length} change point${changes.length === 1 ? '' : 's'}, ${fresh.length} new tonight (${fresh.filter((c) => c.direction === 'worse').length} worse).`,
    '',
  ];
  if (changes.length) lines.push(formatTable(changes, CHANGE_COLUMNS, 'md'));
  return `${lines.join('\n')}\n`;
}
