import { METRICS, type Change, type CheckResult } from './check.js';
import { formatTable, type Column } from './upstream.js';

const percent = (v: number) => `${(100 * v).toFixed(1)}%`;
const points = (v: number) => `${v >= 0 ? '+' : ''}${(100 * v).toFixed(1)}`;

function describeChange(c: Change): { before: string; after: string; change: string } {
  if (METRICS[c.metric].timing) {
    return { before: `${c.before.toFixed(1)} ms`, after: `${c.after.toFixed(1)} ms`, change: `${c.change.toFixed(2)}x [${c.interval[0].toFixed(2)}, ${c.interval[1].toFixed(2)}]` };
  }
  return { before: percent(c.before), after: percent(c.after), change: `${points(c.change)} points [${points(c.interval[0])}, ${points(c.interval[1])}]` };
}

/** The columns of a table of changes, for the check's text and the report. */
export const CHANGE_COLUMNS: readonly Column<Change>[] = [
  { key: 'direction', title: 'direction', value: (c) => `${c.direction}${c.new ? ' (new)' : ''}` },
  { key: 'metric', title: 'metric', value: (c) => METRICS[c.metric].title },
  { key: 'cell', title: 'cell', value: (c) => `${c.backbone} ${c.head} ${c.trainer} lr=${c.lr}` },
  { key: 'testbed', title: 'testbed', value: (c) => c.testbed ?? 'all' },
  { key: 'night', title: 'first night after', value: (c) => `#${c.night} ${c.commit} ${c.time.slice(0, 10)}` },
  { key: 'before', title: 'before', value: (c) => describeChange(c).before },
  { key: 'after', title: 'after', value: (c) => describeChange(c).after },
  { key: 'change', title: 'change [95% interval]', value: (c) => describeChange(c).change },
  { key: 'nights', title: 'nights before/after', value: (c) => `${c.nightsBefore}/${c.nightsAfter}` },
  { key: 'noise', title: 'noise', value: (c) => `${c.noise}${c.images ? ' + images' : ''}` },
  { key: 'p', title: 'p (level)', value: (c) => `${c.p.toPrecision(2)} (${c.level.toPrecision(2)})` },
];

/** `history check`'s text form: a line, then the changes as a Markdown table. */
export function checkText(result: CheckResult): string {
  const head = `${result.nights} nights, ${result.series} series (cell x metric, timings per testbed), false discovery rate ${result.fdr}`;
  if (!result.changes.length) return `${head}: no change.\n`;
  return `${head}: ${result.changes.length} change${result.changes.length === 1 ? '' : 's'}.\n\n${formatTable(result.changes, CHANGE_COLUMNS, 'md')}`;
}

