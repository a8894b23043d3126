import { performance } from 'node:perf_hooks';
import type { ImageDataset, ImageSplit } from '@headbench/data';
import { describeSignal, tf } from '@headbench/engine';
import { UsageError, writeFileAtomic } from '@headbench/errors';
import {
  environment,
  openResultsFolder,
  RESULTS_SCHEMA,
  RESULTS_SCHEMA_VERSION,
  withStatistics,
  writeTables,
  type ModelBench,
  type ResultRow,
  type ResultsFolder,
  type ResultsMode,
  type RunRecord,
  type RunResults,
} from '@headbench/results';
import { correctnessRecord, median, quantile, type CorrectnessRecord } from '@headbench/stats';
import { composeModel, type ComposedModel } from './compose.js';
import { formatSpecifier } from './options.js';
import type { Combination } from './planner.js';
import type { FeatureShape, TrainerPlugin } from './plugin.js';
import type { PluginRegistry } from './registry.js';
import { FeatureCache, headOnly, type FeatureCacheOptions, type FeatureEvent, type HeadOnly } from './features.js';
import { fitModel, type FeatureSource, type TrainOutcome, type TrainProgress } from './trainer.js';

export interface RunSettings {
  inputSize: number;
  epochs: number;
  batchSize: number;
  divergenceLoss: number;
}

export type RunEvent =
  | { type: 'start'; total: number; resumed: number }
  | { type: 'combination'; position: number; total: number; combination: Combination }
  | { type: 'train'; combination: Combination; progress: TrainProgress }
  | { type: 'row'; position: number; total: number; row: ResultRow }
  /** The feature cache: features computed (with progress) or found. */
  | { type: 'features'; event: FeatureEvent };

export interface RunOptions extends RunSettings {
  combinations: readonly Combination[];
  registry: PluginRegistry;
  dataset: ImageDataset;
  /** Folder for results.json, results.csv and summary.md, written after every combination. */
  outDir: string;
  /**
   * What to do with results already in `outDir`: `new` refuses them, `resume` continues the same
   * plan, `extend` adds this plan's combinations. Finished rows are always kept and skipped.
   */
  mode: ResultsMode;
  /**
   * The settings every row shares, keyed by flag name in camelCase; recorded in results.json.
   * `resume` and `extend` refuse a folder written with other settings, naming each difference.
   */
  config: Record<string, unknown>;
  /** The head the others are compared with (default: the first head of the plan). */
  baseline?: string;
  /** This run's axes and shard, keyed the same way; `resume` refuses a plan not recorded in the folder. */
  plan: Record<string, unknown>;
  /** The command line, recorded with the rows this run writes. */
  argv?: readonly string[];
  /** The folder opened (and locked) beforehand with `openResultsFolder`; else runPlan opens it and releases it at the end. */
  folder?: ResultsFolder;
  onEvent?: (event: RunEvent) => void;
  /**
   * Combinations whose training process died in native code, with the signal: each becomes an
   * error row naming it, not trained again in this run (`headbench run` passes them when it goes on
   * in a new process after such a death).
   */
  crashed?: readonly { id: string; signal: string }[];
  /**
   * Frozen backbones compute their features once: stages that train with the backbone frozen and
   * the images unaugmented train the head on features kept in the feature cache (the default).
   * `false` runs every stage on the images through the whole model (`--no-feature-cache`).
   */
  featureCache?: false | Omit<FeatureCacheOptions, 'onEvent' | 'batchSize'>;
  /** Timings taken on each trained model before it is disposed (`headbench run` uses benchModel). */
  afterTraining?: (
    model: tf.LayersModel,
    row: ResultRow,
    context: { trainer: TrainerPlugin; backboneLayers: readonly tf.layers.Layer[]; head?: { model: tf.LayersModel; featureShape: FeatureShape } },
  ) => Promise<ModelBench>;
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n').filter(Boolean).slice(0, 2).join(' ');
}

/** A plugin as rows name it: its canonical specifier and version. */
const named = (p: { meta: { name: string; version: string }; options: Parameters<typeof formatSpecifier>[1] }) => `${formatSpecifier(p.meta.name, p.options)}@${p.meta.version}`;

/** The row of a combination whose training process died with `signal` in native code. */
function crashedRow(combination: Combination, options: RunOptions, signal: string): ResultRow {
  const { registry } = options;
  return {
    ...rowBase(combination, options),
    plugins: { backbone: named(registry.create('backbone', combination.backbone)), head: named(registry.create('head', combination.head)), trainer: named(registry.create('trainer', combination.trainer)) },
    status: 'error',
    error: `TensorFlow died in native code with ${describeSignal(signal)} while this combination trained; the run went on in a new process (environment.onednn says which kernels ran; TF_ENABLE_ONEDNN_OPTS=0 runs TensorFlow's own)`,
    signal,
    seconds: 0,
    finishedAt: new Date().toISOString(),
  };
}

function rowBase(combination: Combination, options: RunOptions) {
  return {
    id: combination.id,
    backbone: combination.backbone,
    head: combination.head,
    trainer: combination.trainer,
    lr: combination.lr,
    seed: combination.seed,
    inputSize: options.inputSize,
    classes: options.dataset.classes.length,
    batchSize: options.batchSize,
    epochs: options.epochs,
    dataset: options.dataset.name,
    trainImages: options.dataset.trainCount,
    valImages: options.dataset.valCount,
    ...(options.dataset.testCount ? { testImages: options.dataset.testCount } : {}),
    skippedFiles: options.dataset.skipped.length,
    plugins: { backbone: '', head: '', trainer: '' } as ResultRow['plugins'],
    history: [],
    finalValAccuracy: null,
    bestValAccuracy: null,
    finalValLoss: null,
    trainAccuracyInference: null,
  } satisfies Partial<ResultRow>;
}

async function runOne(combination: Combination, options: RunOptions, featureCache: FeatureCache | undefined): Promise<ResultRow> {
  const started = performance.now();
  const base = rowBase(combination, options);
  let model: tf.LayersModel | undefined;
  try {
    const backbone = options.registry.create('backbone', combination.backbone);
    const head = options.registry.create('head', combination.head);
    const trainer = options.registry.create('trainer', combination.trainer);
    base.plugins = { backbone: named(backbone), head: named(head), trainer: named(trainer) };
    // SGD rows keep saying their momentum, as rows did before the trainer axis.
    if (trainer.meta.name === 'sgd' && typeof trainer.options['momentum'] === 'number') Object.assign(base, { momentum: trainer.options['momentum'] });
    const composed = await composeModel(backbone, head, { inputSize: options.inputSize, classes: base.classes, seed: combination.seed });
    model = composed.model;
    const { train, val, test } = await options.dataset.load(options.inputSize);
    const whole = model;
    const features: FeatureSource = featureCache
      ? {
          load: async () => {
            const alone = headOnly(whole, composed.backboneLayers, head, { classes: base.classes, featureShape: composed.featureShape, seed: combination.seed });
            try {
              const splits = await featureCache.splits({
                plugin: backbone,
                backboneName: named(backbone),
                model: composed.backbone.model,
                featureShape: composed.featureShape,
                inputSize: options.inputSize,
                splits: { train, val, ...(test ? { test } : {}) },
              });
              return { splits, head: alone };
            } catch (error) {
              alone.dispose();
              throw error;
            }
          },
        }
      : { off: 'the feature cache is off (--no-feature-cache)', load: () => Promise.reject(new Error('the feature cache is off')) };
    const outcome = await fitModel(
      model,
      { train, val, ...(test ? { test } : {}), classes: base.classes, preprocess: (x) => backbone.preprocess(x), backboneLayers: composed.backboneLayers, features },
      trainer,
      {
        lr: combination.lr,
        epochs: options.epochs,
        batchSize: options.batchSize,
        seed: combination.seed,
        divergenceLoss: options.divergenceLoss,
        onProgress: (progress) => options.onEvent?.({ type: 'train', combination, progress }),
      },
    );
    const row = finishRow(base, composed, outcome, options, started, { val, ...(test ? { test } : {}) });
    if (options.afterTraining && row.status === 'ok') {
      let alone: HeadOnly | undefined;
      try {
        // The head alone, for its own step time beside the whole model's.
        try {
          alone = headOnly(model, composed.backboneLayers, head, { classes: base.classes, featureShape: composed.featureShape, seed: combination.seed });
          alone.pull();
        } catch {
          alone = undefined;
        }
        row.bench = await options.afterTraining(model, row, {
          trainer,
          backboneLayers: composed.backboneLayers,
          ...(alone ? { head: { model: alone.model, featureShape: composed.featureShape } } : {}),
        });
      } catch (error) {
        row.benchError = oneLine(error);
      } finally {
        alone?.dispose();
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
      ...(outcome.stepMs.stages ? { stages: outcome.stepMs.stages.map((s) => ({ medianMs: median(s), samples: s.length })) } : {}),
    },
    tensors: outcome.tensors,
    engines: outcome.engines,
    path: outcome.path,
    seconds: (performance.now() - started) / 1000,
    finishedAt: new Date().toISOString(),
  };
}

/**
 * Trains every combination in order and writes the results after each, so an interrupted run
 * keeps what finished. A combination that throws becomes an `error` row and the run goes on.
 * Results only grow: rows already in the folder are kept whatever this plan is (an error row
 * is replaced by its retry), and this run is recorded beside the earlier ones.
 */
export async function runPlan(options: RunOptions): Promise<RunResults> {
  const folder = options.folder ?? openResultsFolder({ outDir: options.outDir, mode: options.mode, config: options.config, plan: options.plan, ...(options.argv ? { argv: options.argv } : {}) });
  try {
    return await trainInto(folder, options);
  } finally {
    if (!options.folder) folder.release();
  }
}

async function trainInto(folder: ResultsFolder, options: RunOptions): Promise<RunResults> {
  const { earlier } = folder;
  const now = new Date().toISOString();
  // An extended file keeps the head it compares with, unless this run names another.
  const baseline = options.baseline ?? earlier?.baseline ?? options.combinations[0]?.head;
  const record: RunRecord = {
    argv: [...(options.argv ?? [])],
    cwd: process.cwd(),
    host: folder.lock.info.hostname,
    pid: process.pid,
    startedAt: now,
    mode: options.mode,
    plan: options.plan,
    trained: [],
    ...(options.crashed?.length ? { continuedAfter: [...options.crashed] } : {}),
  };
  const results: RunResults = {
    schema: RESULTS_SCHEMA,
    schemaVersion: RESULTS_SCHEMA_VERSION,
    createdAt: earlier?.createdAt ?? now,
    updatedAt: now,
    environment: environment(),
    config: options.config,
    runs: [...(earlier?.runs ?? []), record],
    ...(earlier?.mergedFrom ? { mergedFrom: earlier.mergedFrom } : {}),
    skippedFiles: [...options.dataset.skipped],
    rows: [...(earlier?.rows ?? [])],
    ...(baseline ? { baseline } : {}),
  };
  const done = new Set(results.rows.filter((r) => r.status !== 'error').map((r) => r.id));
  const todo = options.combinations.filter((c) => !done.has(c.id));
  const resumed = options.combinations.length - todo.length;
  options.onEvent?.({ type: 'start', total: options.combinations.length, resumed });
  let position = resumed;
  let written = 0;
  let rowsInFile = results.rows.length;
  let derived = results;
  const featureCache =
    options.featureCache === false ? undefined : new FeatureCache({ ...options.featureCache, batchSize: options.batchSize, onEvent: (event) => options.onEvent?.({ type: 'features', event }) });
  try {
    for (const combination of todo) {
      position += 1;
      options.onEvent?.({ type: 'combination', position, total: options.combinations.length, combination });
      const signal = options.crashed?.find((c) => c.id === combination.id)?.signal;
      const row = signal ? crashedRow(combination, options, signal) : await runOne(combination, options, featureCache);
      const at = results.rows.findIndex((r) => r.id === row.id);
      if (at >= 0) results.rows[at] = row;
      else results.rows.push(row);
      record.trained.push(row.id);
      results.skippedFiles = [...options.dataset.skipped];
      results.updatedAt = new Date().toISOString();
      derived = withStatistics(results);
      writeFileAtomic(folder.jsonFile, `${JSON.stringify(derived, null, 2)}\n`);
      written += 1;
      rowsInFile = results.rows.length;
      writeTables(folder.outDir, derived);
      options.onEvent?.({ type: 'row', position, total: options.combinations.length, row });
    }
  } catch (error) {
    // A problem the user can fix (a full disk, data that stopped decoding) after rows were
    // written: they are kept, and the message says so and how to go on.
    if (error instanceof UsageError && written > 0) {
      throw new UsageError(
        `${error.message}; the ${written} combination${written === 1 ? '' : 's'} this run finished ${written === 1 ? 'is' : 'are'} kept in ${folder.jsonFile} ` +
          `(${rowsInFile} row${rowsInFile === 1 ? '' : 's'} in all); once that is fixed, continue with ${options.mode === 'extend' ? '--extend' : '--resume'} --out ${folder.outDir}`,
        { cause: error, exitCode: 1 },
      );
    }
    throw error;
  } finally {
    featureCache?.dispose();
  }
  return written ? derived : withStatistics(results);
}
