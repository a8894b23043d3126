import { formatCell, SUMMARY_COLUMNS, type RunResults } from '@headbench/core';
import { accuracyVersusParams, learningCurves, stepTimeBars, type Chart } from './charts.js';

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function figure(chart: Chart): string {
  return `<figure class="chart" data-chart="${chart.id}" data-series="${escape(JSON.stringify(chart.series))}">\n${chart.svg}\n</figure>`;
}

/** The charts of a report, in page order. */
export function reportCharts(results: RunResults): Chart[] {
  return [...learningCurves(results.rows), accuracyVersusParams(results.rows), stepTimeBars(results.rows)];
}

/** A self-contained page: inline SVG charts and CSS, no scripts, no network. */
export function renderHtml(results: RunResults, title = 'headbench results'): string {
  const env = results.environment;
  const charts = reportCharts(results);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escape(title)}</title>
<style>
body { font-family: sans-serif; margin: 2rem; color: #222; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(720px, 1fr)); gap: 1rem; }
figure.chart { margin: 0; border: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; }
th:nth-child(-n+2), td:nth-child(-n+2) { text-align: left; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; font-size: 0.85rem; }
</style>
</head>
<body>
<h1>${escape(title)}</h1>
<p>${results.rows.length} combinations, updated ${escape(results.updatedAt)}. Dataset: ${escape(results.rows[0]?.dataset ?? 'none')}.</p>
<h2>Summary</h2>
<table id="summary">
<thead><tr>${SUMMARY_COLUMNS.map((c) => `<th>${escape(c.title)}</th>`).join('')}</tr></thead>
<tbody>
${results.rows.map((r) => `<tr>${SUMMARY_COLUMNS.map((c) => `<td>${escape(formatCell(c.value(r)))}</td>`).join('')}</tr>`).join('\n')}
</tbody>
</table>
<h2>Charts</h2>
<div class="charts">
${charts.map(figure).join('\n')}
</div>
<h2>Environment</h2>
<dl>
${Object.entries(env)
  .map(([k, v]) => `<dt>${escape(k)}</dt><dd>${escape(typeof v === 'object' ? JSON.stringify(v) : String(v))}</dd>`)
  .join('\n')}
</dl>
</body>
</html>
`;
}
