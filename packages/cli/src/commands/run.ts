import { ensureOfficialWeights, imagenetWeightFile } from '@headbench/backbones';
import fs from 'node:fs';
import path from 'node:path';
import {
  benchModel,
  checkRecipe,
  parseShard,
  plan,
  runPlan,
  shardOf,
  UsageError,
  type PluginRegistry,
  type TrainerAxis,
} from '@headbench/core';
import {
  imageFolderDataset,
  parseSize,
  syntheticDataset,
  type DatasetEvent,
  type ImageDataset,
} from '@headbench/data';
import {
  DEFAULT_TRAINER,
  openResultsFolder,
  renderSummary,
  RESULT_FILES,
  tensorboardLogger,
  type RunResults,
} from '@headbench/results';
import { loadConfig, loadPlugins, type HeadbenchConfig } from '../config.js';
import { PRESETS, RUN_DEFAULTS, type RunPlanSettings } from '../presets.js';
import { trainersOf } from '../specifiers.js';
import { createProgress, progressMode, type Progress } from '../progress.js';
import { announce, watched, type Continuation } from '../supervise.js';

/** What the command line gives `headbench run`, global options included. */
export interface RunCommandOptions {
  preset?: string;
  backbone?: string[];
  head?: string[];
  trainer?: string[];
  lr?: number[];
  seed?: number[];
  train?: string;
  val?: string;
  valSplit?: number;
  test?: string;
  testSplit?: number;
  baseline?: string;
  tensorboard?: string;
  dataset?: string;
  classes?: number;
  imagesPerClass?: number;
  epochs?: number;
  batchSize?: number;
  inputSize?: number;
  momentum?: number;
  divergeLoss?: number;
  /** Decoded images up to this size stay in memory; larger datasets stream from the image cache (`2GB`). */
  memoryBudget?: string;
  out?: string;
  quiet?: boolean;
  resume?: boolean;
  extend?: boolean;
  shard?: string;
  bench?: boolean;
  /** `--no-feature-cache`: every stage runs the images through the whole model, frozen or not. */
  featureCache?: boolean;
  config?: string;
  plugin?: string[];
}

/** Flags over the config file over the preset over the defaults, field by field. */
export function resolveSettings(options: RunCommandOptions, config: HeadbenchConfig): RunPlanSettings & { preset: string } {
  const presetName = options.preset ?? config.preset ?? 'default';
  const preset = PRESETS[presetName];
  if (!preset) throw new UsageError(`unknown preset "${presetName}"; presets: ${Object.keys(PRESETS).join(', ')}`);
  const p = preset.settings;
  // A dataset given on the command line or in the config replaces the preset's as a whole.
  const ownData = options.train ?? options.val ?? options.valSplit ?? options.dataset ?? config.train ?? config.val ?? config.valSplit;
  const data = ownData === undefined ? { train: p.train, val: p.val, valSplit: p.valSplit } : { train: options.train ?? config.train, val: options.val ?? config.val, valSplit: options.valSplit ?? config.valSplit };
  // A test split goes with any dataset, the preset's too.
  const test = options.test ?? config.test ?? (options.testSplit ?? config.testSplit ? undefined : p.test);
  const testSplit = options.testSplit ?? config.testSplit ?? (test === undefined ? p.testSplit : undefined);
  if (test !== undefined && testSplit !== undefined) throw new UsageError('give either --test <dir> or --test-split <fraction>, not both');
  // --momentum (and the config's momentum) is the trainer sgd:momentum=<m>, as it was before the
  // trainer axis; beside trainers of the same source it would be ambiguous.
  if (options.momentum !== undefined && options.trainer) {
    throw new UsageError(`--momentum ${options.momentum} is SGD's momentum, but --trainer names the trainers; write --trainer sgd:momentum=${options.momentum} instead`);
  }
  if (config.momentum !== undefined && config.trainers) {
    throw new UsageError(`the config file gives momentum: ${config.momentum} beside trainers; write the trainer 'sgd:momentum=${config.momentum}' in trainers instead`);
  }
  const sgdWith = (m: number) => [m > 0 ? `sgd:momentum=${m}` : 'sgd'];
  const flagTrainers = options.trainer ?? (options.momentum !== undefined ? sgdWith(options.momentum) : undefined);
  const configTrainers = config.trainers ?? (config.momentum !== undefined ? sgdWith(config.momentum) : undefined);
  const momentum = options.trainer ? 0 : (options.momentum ?? (config.trainers ? 0 : config.momentum));
  const settings = {
    preset: presetName,
    backbones: options.backbone ?? config.backbones ?? p.backbones ?? ['mobilenetv2'],
    heads: options.head ?? config.heads ?? p.heads ?? ['gap', 'flatten'],
    trainers: flagTrainers ?? configTrainers ?? p.trainers ?? ['sgd'],
    lr: options.lr ?? config.lr ?? p.lr ?? [0.01],
    seeds: options.seed ?? config.seeds ?? p.seeds ?? [...RUN_DEFAULTS.seeds],
    inputSize: options.inputSize ?? config.inputSize ?? p.inputSize ?? 224,
    epochs: options.epochs ?? config.epochs ?? p.epochs ?? RUN_DEFAULTS.epochs,
    batchSize: options.batchSize ?? config.batchSize ?? p.batchSize ?? RUN_DEFAULTS.batchSize,
    momentum: momentum ?? p.momentum ?? RUN_DEFAULTS.momentum,
    ...(options.dataset === 'synthetic' ? {} : data),
    ...(test !== undefined ? { test } : {}),
    ...(testSplit !== undefined ? { testSplit } : {}),
  };
  // --lr is every trainer's learning rate, also of trainers that bring their own; so is the
  // config's lr for the preset's trainers.
  if (options.lr || (config.lr && !flagTrainers && !configTrainers)) settings.trainers = settings.trainers.map((t) => (typeof t === 'string' ? t : t.trainer));
  const heads = settings.heads;
  const baseline = options.baseline ?? config.baseline ?? p.baseline ?? heads[0];
  if (baseline === undefined || !heads.includes(baseline)) {
    throw new UsageError(`--baseline ${baseline}: the baseline must be one of the run's heads (${heads.join(', ')}); add it with --head ${baseline} or pick one of those`);
  }
  const missing = preset.requires?.({ ...settings, ...(options.dataset ? { dataset: options.dataset } : {}) });
  if (missing) throw new UsageError(missing);
  return { ...settings, baseline };
}

function openDataset(
  settings: RunPlanSettings,
  options: RunCommandOptions,
  config: HeadbenchConfig,
  cwd: string,
  note: (line: string) => void,
  onEvent: (event: DatasetEvent) => void,
): ImageDataset {
  if (options.dataset !== undefined && options.dataset !== 'synthetic') {
    throw new UsageError(`--dataset ${options.dataset}: the only named dataset is "synthetic"; give image folders with --train and --val`);
  }
  if (options.dataset === 'synthetic') {
    if (settings.test !== undefined) throw new UsageError('--test <dir> needs image folders; with --dataset synthetic use --test-split <fraction>');
    const classes = options.classes ?? config.classes ?? 3;
    const perClass = options.imagesPerClass ?? 24;
    const testPerClass = settings.testSplit === undefined ? 0 : Math.max(1, Math.round(perClass * settings.testSplit));
    return syntheticDataset({ classes, trainPerClass: perClass, valPerClass: Math.max(1, Math.round(perClass / 2)), testPerClass, seed: settings.seeds[0] ?? 1 });
  }
  if (!settings.train) throw new UsageError('give a dataset: --train <dir> with --val <dir> or --val-split <fraction>, or --dataset synthetic');
  return imageFolderDataset({
    // Absolute, so that the results name the same folders whatever directory --resume runs in.
    train: path.resolve(cwd, settings.train),
    ...(settings.val !== undefined ? { val: path.resolve(cwd, settings.val) } : {}),
    ...(settings.valSplit !== undefined ? { valSplit: settings.valSplit } : {}),
    ...(settings.test !== undefined ? { test: path.resolve(cwd, settings.test) } : {}),
    ...(settings.testSplit !== undefined ? { testSplit: settings.testSplit } : {}),
    seed: settings.seeds[0] ?? 1,
    onSkip: (s) => note(`skipped ${s.file}: ${s.reason}; the run goes on without it`),
    ...(options.memoryBudget !== undefined ? { memoryBudget: parseSize(options.memoryBudget, '--memory-budget') } : {}),
    onEvent,
  });
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
}

/**
 * Checks every plugin specifier and the input size before anything is decoded or trained, and
 * gives the plan's trainers by their canonical names.
 */
function checkPlugins(registry: PluginRegistry, settings: RunPlanSettings): (string | TrainerAxis)[] {
  for (const spec of settings.backbones) registry.create('backbone', spec).featureShape(settings.inputSize);
  for (const spec of settings.heads) registry.create('head', spec);
  const names = trainersOf(registry, settings.trainers.map((t) => (typeof t === 'string' ? t : t.trainer)));
  return settings.trainers.map((t, i) => (typeof t === 'string' ? names[i]!.label : { trainer: names[i]!.label, learningRates: t.lr }));
}

/** Each trainer's recipe for this run (its stages and schedule), so a setting that cannot work stops the run before it trains. */
function checkRecipes(registry: PluginRegistry, trainers: readonly (string | TrainerAxis)[], settings: RunPlanSettings, stepsPerEpoch: number): void {
  for (const t of trainers) {
    const trainer = registry.create('trainer', typeof t === 'string' ? t : t.trainer);
    for (const lr of typeof t === 'string' ? settings.lr : t.learningRates) checkRecipe(trainer, trainer.recipe({ lr, epochs: settings.epochs, stepsPerEpoch }), settings.epochs);
  }
}

/**
 * Before anything trains: the official Keras files the run's backbones need for weights=imagenet,
 * found or downloaded now, or one error naming every missing file and where it goes.
 */
async function ensureImagenetWeights(registry: PluginRegistry, settings: RunPlanSettings): Promise<string[]> {
  const files = settings.backbones.map((spec) => imagenetWeightFile(registry.create('backbone', spec))).filter((f) => f !== undefined);
  return files.length ? ensureOfficialWeights(files) : [];
}

export interface RunOutcome {
  results: RunResults;
  outDir: string;
  /** The TensorBoard log folder, when asked for. */
  tensorboard?: string;
  /** The table for the terminal. */
  table: string;
  exitCode: number;
}

/**
 * `continued`: this process goes on with a run whose training process died in native code
 * (supervise.ts): the same folder, the same mode (a new run that has rows is resumed), and the
 * combinations that died become error rows.
 */
export async function runCommand(options: RunCommandOptions, cwd: string, argv: readonly string[] = [], continued?: Continuation): Promise<RunOutcome> {
  const loaded = await loadConfig(cwd, options.config);
  const { config } = loaded;
  const settings = resolveSettings(options, config);
  const registry = await loadPlugins(loaded, options.plugin ?? [], cwd);
  const trainers = checkPlugins(registry, settings);
  const weightFiles = await ensureImagenetWeights(registry, settings);
  let combinations = plan({ backbones: settings.backbones, heads: settings.heads, trainers, learningRates: settings.lr, seeds: settings.seeds });
  const shard = options.shard ? parseShard(options.shard) : undefined;
  if (shard) combinations = shardOf(combinations, shard);
  const asked = options.extend ? 'extend' : options.resume ? 'resume' : 'new';
  if (asked !== 'new' && !options.out) throw new UsageError(`--${asked} needs the --out folder of the results to ${asked === 'resume' ? 'continue' : 'extend'}`);
  const outDir = continued?.outDir ?? path.resolve(cwd, options.out ?? path.join('headbench-results', `${settings.preset}-${timestamp()}${shard ? `-shard${shard.index}of${shard.count}` : ''}`));
  const mode = continued && asked === 'new' && fs.existsSync(path.join(outDir, RESULT_FILES.json)) ? 'resume' : asked;

  const progressKind = progressMode(options.quiet ?? false);
  // Files that do not decode are reported while decoding, through the progress display.
  let progress: Progress | undefined;
  const dataset = openDataset(
    settings,
    options,
    config,
    cwd,
    (line) => progress?.note(line),
    (event) => progress?.onDataset(event),
  );
  const bench = options.bench !== false && PRESETS[settings.preset]?.bench !== false;
  const divergenceLoss = options.divergeLoss ?? RUN_DEFAULTS.divergenceLoss;
  // What every row means, named as the flags: --resume and --extend refuse other values.
  const runConfig = {
    dataset: `${dataset.name} (${dataset.classes.length} classes, ${dataset.trainCount} train / ${dataset.valCount} val${dataset.testCount ? ` / ${dataset.testCount} test` : ''} images)`,
    inputSize: settings.inputSize,
    epochs: settings.epochs,
    batchSize: settings.batchSize,
    momentum: settings.momentum,
    divergeLoss: divergenceLoss,
    bench,
  };
  // Which combinations this run trains: --resume continues the same, --extend adds others. The
  // trainer axis is recorded when it is not the default sgd alone, so that folders from before
  // it keep their plans.
  const defaultTrainer = trainers.length === 1 && trainers[0] === DEFAULT_TRAINER;
  const trainerAxis = trainers.map((t) => (typeof t === 'string' ? t : { trainer: t.trainer, lr: t.learningRates }));
  const runPlanAxes = { backbone: settings.backbones, head: settings.heads, ...(defaultTrainer ? {} : { trainer: trainerAxis }), lr: settings.lr, seed: settings.seeds, shard: shard ? `${shard.index}/${shard.count}` : null };
  const stepsPerEpoch = Math.ceil(dataset.trainCount / settings.batchSize);
  let folder: ReturnType<typeof openResultsFolder> | undefined;
  let onSigint: (() => void) | undefined;
  try {
    // Each trainer's recipe (its stages and schedule) for this run: a setting that cannot work
    // stops the run here, before the folder is touched.
    checkRecipes(registry, trainers, settings, stepsPerEpoch);
    // Before decoding or training: a folder in use, other settings or a filesystem that cannot
    // take the results are refused at once.
    folder = openResultsFolder({ outDir, mode, config: runConfig, plan: runPlanAxes, argv, ...(watched() ? { lockPid: process.ppid } : {}) });
    // From here Ctrl-C removes the lock and says how to go on; finished rows are in results.json.
    const again = mode === 'extend' ? '--extend' : '--resume';
    onSigint = () => {
      progress?.stop();
      folder?.release();
      process.stderr.write(`\ninterrupted: every finished combination is in ${path.join(outDir, 'results.json')}; continue with ${again} --out ${outDir}\n`);
      process.exit(130);
    };
    process.once('SIGINT', onSigint);
    // The watching process is gone (killed): stop as at Ctrl-C rather than write on unwatched.
    if (watched()) process.once('disconnect', onSigint);
    const stepsPerCombination = settings.epochs * stepsPerEpoch;
    progress = createProgress(progressKind, stepsPerCombination);
    for (const line of folder.notes) progress.warn(line);
    progress.note(
      `headbench run: ${combinations.length} combinations (preset ${settings.preset}${shard ? `, shard ${shard.index}/${shard.count}` : ''}) on ${dataset.name}: ` +
        `${dataset.classes.length} classes, ${dataset.trainCount} train / ${dataset.valCount} val${dataset.testCount ? ` / ${dataset.testCount} test` : ''} images at ${settings.inputSize}x${settings.inputSize}`,
    );
    for (const line of weightFiles) progress.note(`ImageNet weights: ${line}`);
    // Decoding (or the image cache), errors and empty classes surface here, before any training.
    await dataset.load(settings.inputSize);
    const tensorboard = options.tensorboard ? tensorboardLogger(path.resolve(cwd, options.tensorboard)) : undefined;
    let results: RunResults;
    try {
      results = await runPlan({
        combinations,
        registry,
        dataset,
        outDir,
        mode,
        config: runConfig,
        plan: runPlanAxes,
        argv,
        folder,
        ...(settings.baseline ? { baseline: settings.baseline } : {}),
        inputSize: settings.inputSize,
        epochs: settings.epochs,
        batchSize: settings.batchSize,
        divergenceLoss,
        ...(bench
          ? {
              afterTraining: (model, row, { trainer, backboneLayers, head }) =>
                benchModel(model, {
                  ...(head ? { head } : {}),
                  inputSize: settings.inputSize,
                  classes: row.classes,
                  batchSize: settings.batchSize,
                  lr: row.lr,
                  seed: row.seed,
                  trainer: { plugin: trainer, epochs: settings.epochs, stepsPerEpoch, backboneLayers },
                  minSamples: 10,
                  minTimeMs: 0,
                }),
            }
          : {}),
        featureCache:
          options.featureCache === false ? false : { ...(options.memoryBudget !== undefined ? { memoryBudget: parseSize(options.memoryBudget, '--memory-budget') } : {}) },
        ...(continued ? { crashed: continued.crashed } : {}),
        onEvent: (e) => {
          if (e.type === 'combination') announce({ type: 'combination', id: e.combination.id, outDir });
          if (e.type !== 'features') tensorboard?.onEvent(e);
          progress?.onEvent(e);
        },
      });
    } finally {
      progress.stop();
    }
    if (dataset.skipped.length) {
      const n = dataset.skipped.length;
      progress.warn(`${n} file${n === 1 ? '' : 's'} did not decode and ${n === 1 ? 'was' : 'were'} skipped; each is listed with the reason under "skippedFiles" in ${folder.jsonFile}`);
    }
    const planned = new Set(combinations.map((c) => c.id));
    const errors = results.rows.filter((r) => planned.has(r.id) && r.status === 'error').length;
    return { results, outDir, ...(tensorboard ? { tensorboard: tensorboard.dir } : {}), table: renderSummary(results), exitCode: errors ? 1 : 0 };
  } finally {
    if (onSigint) {
      process.removeListener('SIGINT', onSigint);
      process.removeListener('disconnect', onSigint);
    }
    folder?.release();
    dataset.dispose();
  }
}
