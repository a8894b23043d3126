export { renderHtml, reportCharts } from './html.js';
export { renderMarkdown } from './markdown.js';
export { accuracyBars, accuracyVersusParams, forestPlot, learningCurves, stepTimeBars, labelOf, groupLabel, type Chart } from './charts.js';
export { renderHistoryHtml, renderHistoryMarkdown, historyCharts, accuracyChart, timingChart } from './history.js';
