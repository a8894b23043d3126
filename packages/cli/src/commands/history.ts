import path from 'node:path';
import { makeFolder, writeFileAtomic } from '@headbench/errors';
import { addNight, checkHistory, checkText, History, historyReport, prepareNight, readHistory, readNight } from '@headbench/history';
import { renderHistoryHtml, renderHistoryMarkdown } from '@headbench/report';

export interface AddOptions {
  db: string;
  commit?: string;
  time?: string;
  testbed?: string;
}

/**
 * `HEADBENCH_HISTORY_HOLD=1` makes `add` stop before it commits the night, after saying so on
 * stderr, until it is killed: how the tests kill an add half-way, deterministically.
 */
const hold = process.env['HEADBENCH_HISTORY_HOLD'] === '1'
  ? () => {
      process.stderr.write('headbench: holding before commit (HEADBENCH_HISTORY_HOLD)\n');
      // A timer keeps the process alive: a promise alone does not.
      return new Promise<void>(() => setInterval(() => undefined, 60_000));
    }
  : undefined;

/** Adds one night (one results file, or the shards of one night) to the database. */
export async function historyAdd(files: readonly string[], options: AddOptions, cwd: string): Promise<string> {
  const night = prepareNight(readNight(files, cwd), { ...(options.commit ? { commit: options.commit } : {}), ...(options.time ? { time: options.time } : {}), ...(options.testbed ? { testbed: options.testbed } : {}) });
  const db = path.resolve(cwd, options.db);
  const history = await History.open(db, 'create');
  try {
    const outcome = await addNight(history, night, hold);
    const what = `night ${outcome.night} (commit ${outcome.commit}, ${outcome.time}, testbed ${outcome.testbed}, ${outcome.rows} rows)`;
    return outcome.added ? `added ${what} to ${db}\n` : `already stored as ${what} in ${db}; nothing changed\n`;
  } finally {
    history.close();
  }
}

/** Finds the change points; exit 1 when the newest night revealed a worse one. */
export async function historyCheck(options: { db: string; format: 'md' | 'json'; fdr?: number }, cwd: string): Promise<{ text: string; exitCode: number }> {
  const history = await History.open(path.resolve(cwd, options.db), 'existing');
  let data;
  try {
    data = await readHistory(history);
  } finally {
    history.close();
  }
  const result = checkHistory(data, options.fdr ? { fdr: options.fdr } : {});
  const text = options.format === 'json' ? `${JSON.stringify(result, null, 2)}\n` : checkText(result);
  return { text, exitCode: result.changes.some((c) => c.new && c.direction === 'worse') ? 1 : 0 };
}

/** Writes history.html and history.md into `out`, and prints the Markdown. */
export async function historyReportCommand(options: { db: string; out: string; markdown?: string; title?: string }, cwd: string): Promise<string> {
  const history = await History.open(path.resolve(cwd, options.db), 'existing');
  let data;
  try {
    data = await readHistory(history);
  } finally {
    history.close();
  }
  const report = historyReport(data, checkHistory(data));
  const title = options.title ?? 'headbench history';
  const out = path.resolve(cwd, options.out);
  makeFolder(out);
  const html = path.join(out, 'history.html');
  writeFileAtomic(html, renderHistoryHtml(report, title));
  const md = renderHistoryMarkdown(report, title);
  writeFileAtomic(path.join(out, 'history.md'), md);
  if (options.markdown) writeFileAtomic(path.resolve(cwd, options.markdown), md);
  return `${md}\nreport: ${html}\n`;
}
