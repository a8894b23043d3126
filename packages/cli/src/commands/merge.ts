import path from 'node:path';
import { mergeResults, readResults, renderSummary, writeResults } from '@headbench/core';

/** Joins the results of the shards of one plan into one folder (results.json, results.csv, summary.md). */
export function mergeCommand(files: readonly string[], out: string, cwd: string): string {
  const parts = files.map((f) => {
    const file = path.resolve(cwd, f, f.endsWith('.json') ? '' : 'results.json');
    return { file, results: readResults(file) };
  });
  const outDir = path.resolve(cwd, out);
  const merged = writeResults(outDir, mergeResults(parts));
  return `${renderSummary(merged)}\nmerged ${parts.length} files, ${merged.rows.length} combinations: ${outDir}\n`;
}
