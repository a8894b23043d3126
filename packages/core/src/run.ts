import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { tf } from '@headbench/engine';
import { composeModel, type ComposedModel } from './compose.js';
import type { ImageDataset } from './data/dataset.js';
import { UsageError } from './errors.js';
import { formatSpecifier } from './options.js';
import type { Combination } from './planner.js';
import type { PluginRegistry } from './registry.js';
import {
  environment,
  readResults,
  RESULTS_SCHEMA,
  RESULTS_SCHEMA_VERSION,
  withStatistics,
  writeFileAtomic,
  type ResultRow,
  type RunResults,
} from './results.js';
import { median, quantile } from './stats/index.js';
import { renderSummary, resultsCsv } from './summary.js';
import { correctnessRecord, type CorrectnessRecord } from './stats/correctness.js';
import type { ImageSplit } from './data/dataset.js';
import type { Trainer, TrainOutcome, TrainProgress } from './trainer.js';
import type { ModelBench } from './bench.js';

export interface RunSettings {
  inputSize: number;
  epochs: number;
  batchSize: number;
  momentum: number;
  divergenceLoss: number;
}

export type RunEvent =
  | { type: 'start'; total: number; resumed: number }
  | { type: 'combination'; position: number; total: number; combination: Combination }
  | { type: 'train'; combination: Combination; progress: TrainProgress }
  | { type: 'row'; position: number; total: number; row: ResultRow };

export interface RunOptions extends RunSettings {
  combinations: readonly Combination[];
  registry: PluginRegistry;
  dataset: ImageDataset;
  trainer: Trainer;
  /** Folder for results.json, results.csv and summary.md, written after every combination. */
  outDir: string;
  /** Keep finished rows of an earlier run in `outDir` and skip their combinations. */
  resume: boolean;
  /** Recorded in results.json; `--resume` refuses a folder written with different settings. */
  config: Record<string, unknown>;
  /** The head the others are compared with (default: the first head of the plan). */
  baseline?: string;
  onEvent?: (event: RunEvent) => void;
  /** Timings taken on each trained model before it is disposed (`headbench run` uses benchModel). */
  afterTraining?: (model: tf.LayersModel, row: ResultRow) => Promise<ModelBench>;
}

export const RESULT_FILES = { json: 'results.json', csv: 'results.csv', markdown: 'summary.md' } as const;

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n').filter(Boolean).slice(0, 2).join(' ');
}

function loadEarlier(file: string, options: RunOptions): RunResults | undefined {
  if (!fs.existsSync(file)) return undefined;
  if (!options.resume) {
    throw new UsageError(`${file} already exists: pass --resume to continue that run, or choose another --out folder`);
  }
  const earlier = readResults(file);
  const was = JSON.stringify(earlier.config);
  const now = JSON.stringify(options.config);
  if (was !== now) throw new UsageError(`--resume: ${file} was written with other settings (${was}); this run has ${now}. Use another --out folder`);
  return earlier;
}

/**
 * Writes results.json, results.csv and summary.md, each atomically, with `groups` and
 * `comparisons` recomputed from the rows; returns what it wrote.
 */
export function writeResults(outDir: string, results: RunResults): RunResults {
  const derived = withStatistics(results);
  writeFileAtomic(path.join(outDir, RESULT_FILES.json), `${JSON.stringify(derived, null, 2)}\n`);
  writeFileAtomic(path.join(outDir, RESULT_FILES.csv), resultsCsv(derived));
  writeFileAtomic(path.join(outDir, RESULT_FILES.markdown), renderSummary(derived));
  return derived;
}

async function runOne(combination: Combination, options: RunOptions): Promise<ResultRow> {
  const started = performance.now();
  const base = {
    id: combination.id,
    backbone: combination.backbone,
    head: combination.head,
    lr: combination.lr,
    seed: combination.seed,
    inputSize: options.inputSize,
    classes: options.dataset.classes.length,
    batchSize: options.batchSize,
    epochs: options.epochs,
    momentum: options.momentum,
    dataset: options.dataset.name,
    trainImages: options.dataset.trainCount,
    valImages: options.dataset.valCount,
    ...(options.dataset.testCount ? { testImages: options.dataset.testCount } : {}),
    skippedFiles: options.dataset.skipped.length,
    plugins: { backbone: '', head: '' },
    history: [],
    finalValAccuracy: null,
    bestValAccuracy: null,
    finalValLoss: null,
    trainAccuracyInference: null,
  } satisfies Partial<ResultRow>;
  let model: tf.LayersModel | undefined;
  try {
    const backbone = options.registry.create('backbone', combination.backbone);
    const head = options.registry.create('head', combination.head);
    base.plugins = {
      backbone: `${formatSpecifier(backbone.meta.name, backbone.options)}@${backbone.meta.version}`,
      head: `${formatSpecifier(head.meta.name, head.options)}@${head.meta.version}`,
    };
    const composed = await composeModel(backbone, head, { inputSize: options.inputSize, classes: base.classes, seed: combination.seed });
    model = composed.model;
    const { train, val, test } = await options.dataset.load(options.inputSize);
    const outcome = await options.trainer.fit(
      model,
      { train, val, ...(test ? { test } : {}), classes: base.classes, preprocess: (x) => backbone.preprocess(x) },
      {
        lr: combination.lr,
        momentum: options.momentum,
        epochs: options.epochs,
        batchSize: options.batchSize,
        seed: combination.seed,
        divergenceLoss: options.divergenceLoss,
        onProgress: (progress) => options.onEvent?.({ type: 'train', combination, progress }),
      },
    );
    const row = finishRow(base, composed, outcome, options, started, { val, ...(test ? { test } : {}) });
    if (options.afterTraining && row.status === 'ok') {
      try {
        row.bench = await options.afterTraining(model, row);
      } catch (error) {
        row.benchError = oneLine(error);
      }
    }
    return row;
  } catch (error) {
    // A data or settings problem is the user's to fix before anything trains; stop the run.
    if (error instanceof UsageError) throw error;
    return { ...base, status: 'error', error: oneLine(error), seconds: (performance.now() - started) / 1000, finishedAt: new Date().toISOString() };
  } finally {
    model?.dispose();
  }
}

type RowBase = Omit<ResultRow, 'status' | 'seconds' | 'finishedAt'>;

/** A per-image record of a split; without the split's fingerprint (a dataset of another kind) none is kept. */
function recordOf(correct: Uint8Array | undefined, split: ImageSplit | undefined): CorrectnessRecord | undefined {
  return correct && split?.fingerprint ? correctnessRecord(correct, split.fingerprint) : undefined;
}

function finishRow(base: RowBase, composed: ComposedModel, outcome: TrainOutcome, options: RunOptions, started: number, splits: { val: ImageSplit; test?: ImageSplit }): ResultRow {
  const valRecord = recordOf(outcome.valCorrect, splits.val);
  const testRecord = recordOf(outcome.test?.correct, splits.test);
  const vals = outcome.history.map((h) => h.valAccuracy);
  const last = outcome.history.at(-1);
  const samples = outcome.stepMs.samples;
  const medianMs = median(samples);
  return {
    ...base,
    status: outcome.status,
    weights: composed.backbone.weights,
    featureShape: [...composed.featureShape],
    params: composed.params,
    history: outcome.history,
    finalValAccuracy: last?.valAccuracy ?? null,
    bestValAccuracy: vals.length ? Math.max(...vals) : null,
    finalValLoss: last?.valLoss ?? null,
    trainAccuracyInference: outcome.trainInference?.accuracy ?? null,
    ...(splits.test ? { testAccuracy: outcome.test?.accuracy ?? null, testLoss: outcome.test?.loss ?? null } : {}),
    ...(valRecord || testRecord ? { perImage: { ...(valRecord ? { val: valRecord } : {}), ...(testRecord ? { test: testRecord } : {}) } } : {}),
    ...(outcome.divergedAt ? { divergedAt: outcome.divergedAt } : {}),
    stepTime: {
      coldMs: outcome.stepMs.cold,
      medianMs,
      p90Ms: quantile(samples, 0.9),
      samples: samples.length,
      imagesPerSecond: samples.length ? options.batchSize / (medianMs / 1000) : Number.NaN,
      samplesMs: samples.map((s) => Math.round(s * 100) / 100),
    },
    tensors: { ...outcome.tensors, leaked: outcome.tensors.afterLastStep - outcome.tensors.afterFirstStep },
    engines: outcome.engines,
    seconds: (performance.now() - started) / 1000,
    finishedAt: new Date().toISOString(),
  };
}

/**
 * Trains every combination in order and writes the results after each, so an interrupted run
 * keeps what finished. A combination that throws becomes an `error` row and the run goes on.
 */
export async function runPlan(options: RunOptions): Promise<RunResults> {
  const jsonFile = path.join(options.outDir, RESULT_FILES.json);
  const earlier = loadEarlier(jsonFile, options);
  const now = new Date().toISOString();
  const kept = (earlier?.rows ?? []).filter((r) => r.status !== 'error' && options.combinations.some((c) => c.id === r.id));
  const results: RunResults = {
    schema: RESULTS_SCHEMA,
    schemaVersion: RESULTS_SCHEMA_VERSION,
    createdAt: earlier?.createdAt ?? now,
    updatedAt: now,
    environment: environment(),
    config: options.config,
    skippedFiles: [...options.dataset.skipped],
    rows: kept,
    ...(options.baseline ?? options.combinations[0]?.head ? { baseline: options.baseline ?? options.combinations[0]!.head } : {}),
  };
  const done = new Set(kept.map((r) => r.id));
  const todo = options.combinations.filter((c) => !done.has(c.id));
  options.onEvent?.({ type: 'start', total: options.combinations.length, resumed: kept.length });
  let position = kept.length;
  for (const combination of todo) {
    position += 1;
    options.onEvent?.({ type: 'combination', position, total: options.combinations.length, combination });
    const row = await runOne(combination, options);
    results.rows.push(row);
    results.skippedFiles = [...options.dataset.skipped];
    results.updatedAt = new Date().toISOString();
    writeResults(options.outDir, results);
    options.onEvent?.({ type: 'row', position, total: options.combinations.length, row });
  }
  // Rows in plan order, whatever order resume and shards produced them in.
  const order = new Map(options.combinations.map((c, i) => [c.id, i]));
  results.rows.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
  return writeResults(options.outDir, results);
}
