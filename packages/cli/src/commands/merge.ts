import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '@headbench/core';
import { makeFolder } from '@headbench/errors';
import { lockFolder, mergeResults, readResults, renderSummary, writeResults } from '@headbench/results';

/**
 * Joins the results of the shards of one plan (or of extended runs) into one folder
 * (results.json, results.csv, summary.md). Results only grow: a results.json already in `out`
 * must be one of the inputs.
 */
export function mergeCommand(files: readonly string[], out: string, cwd: string, argv: readonly string[] = []): string {
  const parts = files.map((f) => {
    const file = path.resolve(cwd, f, f.endsWith('.json') ? '' : 'results.json');
    return { file, results: readResults(file) };
  });
  const outDir = path.resolve(cwd, out);
  const target = path.join(outDir, 'results.json');
  if (fs.existsSync(target) && !parts.some((p) => p.file === target)) {
    throw new UsageError(`--out ${outDir} already holds a results.json that is not among the files to merge; merge into a new folder, or name ${target} among them to add to it`);
  }
  const joined = mergeResults(parts);
  makeFolder(outDir);
  const lock = lockFolder(outDir, argv);
  if (lock.note) process.stderr.write(`headbench: ${lock.note}\n`);
  let merged: ReturnType<typeof writeResults>;
  try {
    merged = writeResults(outDir, joined);
  } finally {
    lock.release();
  }
  return `${renderSummary(merged)}\nmerged ${parts.length} files, ${merged.rows.length} combinations: ${outDir}\n`;
}
