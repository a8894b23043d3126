import path from 'node:path';
import { formatTable, mergeResults, readResults, SUMMARY_COLUMNS, writeResults } from '@headbench/core';

/** Joins the results of the shards of one plan into one folder (results.json, results.csv, summary.md). */
export function mergeCommand(files: readonly string[], out: string, cwd: string): string {
  const parts = files.map((f) => {
    const file = path.resolve(cwd, f, f.endsWith('.json') ? '' : 'results.json');
    return { file, results: readResults(file) };
  });
  const merged = mergeResults(parts);
  const outDir = path.resolve(cwd, out);
  writeResults(outDir, merged);
  return `${formatTable(merged.rows, SUMMARY_COLUMNS, 'md')}\nmerged ${parts.length} files, ${merged.rows.length} combinations: ${outDir}\n`;
}
