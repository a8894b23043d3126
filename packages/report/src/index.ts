export { renderHtml, reportCharts } from './html.js';
export { renderMarkdown } from './markdown.js';
export { accuracyVersusParams, learningCurves, stepTimeBars, labelOf, type Chart } from './charts.js';
