import path from 'node:path';
import { compareResults, formatTable, readResults, type Column, type Comparison, type MetricComparison } from '@headbench/results';

export interface CompareOptions {
  stepTime: number;
  accuracy: number;
  format: 'md' | 'json';
}

const COLUMNS: readonly Column<MetricComparison>[] = [
  { key: 'verdict', title: 'verdict', value: (m) => m.verdict },
  { key: 'id', title: 'combination', value: (m) => m.id },
  { key: 'metric', title: 'metric', value: (m) => m.metric },
  { key: 'reason', title: 'what changed', value: (m) => m.reason },
];

const resolve = (cwd: string, p: string) => path.resolve(cwd, p, p.endsWith('.json') ? '' : 'results.json');

function markdown(c: Comparison, baseline: string, current: string): string {
  const flagged = c.metrics.filter((m) => m.verdict !== 'unchanged');
  const lines = [
    `## headbench compare`,
    '',
    `${c.regressions} regression${c.regressions === 1 ? '' : 's'}, ${c.improvements} improvement${c.improvements === 1 ? '' : 's'}, ${c.missing.length} missing, ${c.added.length} new (baseline ${baseline}, current ${current}).`,
    '',
  ];
  if (c.environmentChanges.length) lines.push(`Warning: the runs come from different environments (${c.environmentChanges.join('; ')}); timings are not comparable.`, '');
  if (flagged.length) lines.push(formatTable(flagged, COLUMNS, 'md'));
  else lines.push('No change beyond the thresholds.', '');
  if (c.missing.length) lines.push(`Missing from the current results: ${c.missing.join(', ')}`, '');
  if (c.added.length) lines.push(`New in the current results: ${c.added.join(', ')}`, '');
  return lines.join('\n');
}

/** Compares two results files; exit code 1 when anything regressed or went missing. */
export function compareCommand(baselineFile: string, currentFile: string, options: CompareOptions, cwd: string): { text: string; exitCode: number } {
  const baseline = resolve(cwd, baselineFile);
  const current = resolve(cwd, currentFile);
  const c = compareResults(readResults(baseline), readResults(current), { stepTime: options.stepTime, accuracy: options.accuracy });
  const text = options.format === 'json' ? `${JSON.stringify(c, null, 2)}\n` : markdown(c, baselineFile, currentFile);
  return { text, exitCode: c.regressions > 0 || c.missing.length > 0 ? 1 : 0 };
}
