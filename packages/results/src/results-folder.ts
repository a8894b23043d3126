import fs from 'node:fs';
import path from 'node:path';
import { makeFolder, UsageError, writeFileAtomic } from '@headbench/errors';
import { lockFolder, type FolderLock } from './lock.js';
import { readResults, settingDifferences, withStatistics, type ResultsMode, type RunResults } from './results.js';
import { renderSummary, resultsCsv } from './summary.js';

export const RESULT_FILES = { json: 'results.json', csv: 'results.csv', markdown: 'summary.md' } as const;

export interface OpenResultsOptions {
  outDir: string;
  /**
   * `new` refuses a folder that has results; `resume` continues one of the plans recorded there;
   * `extend` adds this plan's combinations to them. All three keep every finished row, and
   * `resume` and `extend` refuse other settings.
   */
  mode: ResultsMode;
  /** The settings every row shares, keyed by flag name in camelCase (see `settingDifferences`). */
  config: Record<string, unknown>;
  /** The axes and shard of this run's plan, keyed the same way. */
  plan: Record<string, unknown>;
  /** The command line, for the lock file and the run's record. */
  argv?: readonly string[];
  /** The process the lock names (default: this one); see lockFolder. */
  lockPid?: number;
}

/** A results folder a run may write into: created, locked, and its earlier results checked. */
export interface ResultsFolder {
  outDir: string;
  jsonFile: string;
  mode: ResultsMode;
  earlier?: RunResults;
  lock: FolderLock;
  /** Lines for the user: a stale lock taken over, nothing to resume yet. */
  notes: string[];
  release(): void;
}

const rowsWord = (n: number) => `${n} row${n === 1 ? '' : 's'}`;

function checkEarlier(file: string, options: OpenResultsOptions): RunResults | undefined {
  if (!fs.existsSync(file)) return undefined;
  const dir = path.dirname(file);
  if (options.mode === 'new') {
    throw new UsageError(`${file} already exists: continue that run with --resume, add combinations to it with --extend, or choose another --out folder`);
  }
  const earlier = readResults(file);
  const flag = `--${options.mode}`;
  if (!earlier.runs) {
    throw new UsageError(`${flag}: ${file} was written by an older headbench that did not record its plan, so it cannot be continued safely; its ${rowsWord(earlier.rows.length)} stay as they are: choose another --out`);
  }
  const kept = rowsWord(earlier.rows.length);
  const settings = settingDifferences(earlier.config, options.config);
  // --resume continues a plan recorded in the file; --extend may bring any other.
  const plans = earlier.runs.map((r) => r.plan);
  const planDiffers = options.mode === 'resume' && !plans.some((p) => settingDifferences(p, options.plan).length === 0);
  const axes = planDiffers ? settingDifferences(plans.at(-1) ?? {}, options.plan) : [];
  if (settings.length) {
    throw new UsageError(
      `${flag}: ${file} was written with other settings (${[...settings, ...axes].join(' | ')}); rows of other settings cannot share one results file, so its ${kept} stay as they are: ` +
        'choose another --out, or repeat the settings it was written with',
    );
  }
  if (planDiffers) {
    throw new UsageError(`--resume: ${file} holds another plan (${axes.join(' | ')}); add these combinations to its ${kept} with --extend --out ${dir} instead, or choose another --out`);
  }
  return earlier;
}

/**
 * Makes the folder (`mkdir -p`, with every filesystem error in words), takes its lock and reads
 * and checks the results already there, before anything is decoded or trained, so a refusal
 * comes at once and leaves the folder as it was.
 */
export function openResultsFolder(options: OpenResultsOptions): ResultsFolder {
  const outDir = path.resolve(options.outDir);
  const made = makeFolder(outDir);
  // Folders this made that are still empty when the lock goes (nothing was written) go too.
  const removeEmpty = () => {
    for (const folder of made.reverse()) {
      try {
        fs.rmdirSync(folder);
      } catch {
        return;
      }
    }
  };
  let lock: FolderLock;
  try {
    lock = lockFolder(outDir, options.argv ?? [], options.lockPid);
  } catch (error) {
    removeEmpty();
    throw error;
  }
  const release = () => {
    lock.release();
    removeEmpty();
    made.length = 0;
  };
  try {
    const jsonFile = path.join(outDir, RESULT_FILES.json);
    const earlier = checkEarlier(jsonFile, options);
    const notes = lock.note ? [lock.note] : [];
    if (!earlier && options.mode !== 'new') notes.push(`--${options.mode}: ${outDir} has no results yet; the run starts there`);
    return { outDir, jsonFile, mode: options.mode, ...(earlier ? { earlier } : {}), lock, notes, release };
  } catch (error) {
    release();
    throw error;
  }
}

/** Writes results.csv and summary.md (of results with their statistics), each atomically. */
export function writeTables(outDir: string, derived: RunResults): void {
  writeFileAtomic(path.join(outDir, RESULT_FILES.csv), resultsCsv(derived));
  writeFileAtomic(path.join(outDir, RESULT_FILES.markdown), renderSummary(derived));
}

/**
 * Writes results.json, results.csv and summary.md, each atomically, with `groups` and
 * `comparisons` recomputed from the rows; returns what it wrote.
 */
export function writeResults(outDir: string, results: RunResults): RunResults {
  const derived = withStatistics(results);
  writeFileAtomic(path.join(outDir, RESULT_FILES.json), `${JSON.stringify(derived, null, 2)}\n`);
  writeTables(outDir, derived);
  return derived;
}
