import {
  describeOneDnn,
  formatCell,
  groupColumns,
  summaryColumns,
  summaryText,
  verdictColumns,
  withStatistics,
  type Column,
  type HeadComparison,
  type RunResults,
} from '@headbench/results';
import { accuracyBars, accuracyVersusParams, forestPlot, learningCurves, stepTimeBars, type Chart } from './charts.js';

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
/** Markdown's `code` as HTML. */
const inline = (s: string) => escape(s).replace(/`([^`]+)`/g, '<code>$1</code>');

function figure(chart: Chart): string {
  return `<figure class="chart" data-chart="${chart.id}" data-series="${escape(JSON.stringify(chart.series))}">\n${chart.svg}\n</figure>`;
}

/** Numbers right, text left. */
const cell = (v: string | number, key: string) => `<td data-key="${escape(key)}"${typeof v === 'number' || /^[+-]?\d/.test(v) ? ' class="num"' : ''}>${escape(formatCell(v))}</td>`;

function table<R>(id: string, rows: readonly R[], columns: readonly Column<R>[], rowClass?: (r: R) => string): string {
  return `<table id="${id}">
<thead><tr>${columns.map((c) => `<th>${escape(c.title)}</th>`).join('')}</tr></thead>
<tbody>
${rows.map((r) => `<tr${rowClass ? ` class="${rowClass(r)}"` : ''}>${columns.map((c) => cell(c.value(r), c.key)).join('')}</tr>`).join('\n')}
</tbody>
</table>`;
}

const verdictClass = (c: HeadComparison) => `verdict-${c.verdict.replaceAll(' ', '-')}`;

/** Results with `groups` and `comparisons`: as written, or derived from the rows (version-1 files). */
function prepared(results: RunResults): RunResults {
  return results.groups && results.comparisons ? results : withStatistics(results);
}

/** The charts of a report, in page order: the forest plot first. */
export function reportCharts(input: RunResults): Chart[] {
  const results = prepared(input);
  const forest = forestPlot(results);
  return [...(forest ? [forest] : []), accuracyBars(results), ...learningCurves(results), accuracyVersusParams(results), stepTimeBars(results)];
}

/**
 * A self-contained page: inline SVG charts and CSS, no scripts, no network. It opens with the
 * answer: the verdict tables and the forest plot; then accuracy with error bars, the groups over
 * seeds, learning curves, and every combination.
 */
export function renderHtml(input: RunResults, title = 'headbench results'): string {
  const results = prepared(input);
  const env = results.environment;
  const charts = reportCharts(results);
  const [forest, ...rest] = charts[0]?.id === 'forest' ? charts : [undefined, ...charts];
  const text = summaryText(results);
  const perLr = (results.comparisons ?? []).filter((c) => c.selection === 'per-lr');
  const bestLr = (results.comparisons ?? []).filter((c) => c.selection === 'best-lr');
  const groups = results.groups ?? [];
  const multiSeed = groups.some((g) => g.rows.length > 1);
  const seeds = [...new Set(results.rows.map((r) => r.seed))];
  const verdict = [
    perLr.length ? `<h3>${escape(text.perLrTitle)}</h3>\n${table('verdicts', perLr, verdictColumns('per-lr'), verdictClass)}\n<p class="note">${inline(text.perLrNote)}</p>` : '',
    bestLr.length ? `<h3>${escape(text.bestLrTitle)}</h3>\n${table('best-lr', bestLr, verdictColumns('best-lr'), verdictClass)}\n<p class="note">${inline(text.bestLrNote ?? '')}</p>` : '',
    forest ? figure(forest) : '',
    ...[text.oneSeedNote, ...text.notes].filter(Boolean).map((n) => `<p class="note">${inline(n!)}</p>`),
  ].filter(Boolean);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)}</title>
<style>
body { font-family: sans-serif; margin: 1.5rem 2rem; color: #222; max-width: 1800px; }
h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
.charts { display: grid; grid-template-columns: 1fr; gap: 1rem; }
figure.chart { margin: 0.5rem 0; border: 1px solid #ddd; }
figure.chart svg { display: block; width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.verdict-better td[data-key="verdict"] { color: #2e7d32; font-weight: bold; }
tr.verdict-worse td[data-key="verdict"] { color: #c62828; font-weight: bold; }
p.note { font-size: 0.85rem; color: #444; max-width: 110ch; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; font-size: 0.85rem; }
</style>
</head>
<body>
<h1>${escape(title)}</h1>
<p>${results.rows.length} combinations (${seeds.length} seed${seeds.length === 1 ? '' : 's'}: ${escape(seeds.join(', '))}), updated ${escape(results.updatedAt)}. Dataset: ${escape(results.rows[0]?.dataset ?? 'none')}.</p>
${verdict.length ? `<h2 id="verdict">Verdict: each head against ${escape(results.baseline ?? '')}</h2>\n${verdict.join('\n')}` : ''}
<h2>Accuracy</h2>
<div class="charts">
${rest.filter((c) => c!.id === 'accuracy').map((c) => figure(c!)).join('\n')}
</div>
${multiSeed ? `<h2>Groups over seeds</h2>\n<p class="note">Mean ± the half-width of the 95% interval over seeds (Student t), and the number of seeds.</p>\n${table('groups', groups, groupColumns(groups))}` : ''}
<h2>Learning curves and cost</h2>
<div class="charts">
${rest.filter((c) => c!.id !== 'accuracy').map((c) => figure(c!)).join('\n')}
</div>
<h2>Every combination</h2>
${table('summary', results.rows, summaryColumns(results.rows))}
<h2>Environment</h2>
<dl>
${Object.entries(env)
  .map(([k, v]) => `<dt>${escape(k)}</dt><dd>${escape(k === 'onednn' ? describeOneDnn(env.onednn) : typeof v === 'object' ? JSON.stringify(v) : String(v))}</dd>`)
  .join('\n')}
</dl>
</body>
</html>
`;
}
