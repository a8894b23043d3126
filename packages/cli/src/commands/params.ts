import { checkRecipe, composeModel, countParams, freeze, UsageError, type FeatureShape, type PluginRegistry } from '@headbench/core';
import { type ParamCounts } from '@headbench/results';
import { canonical, trainersOf, unique, withoutWeights } from '../specifiers.js';
import { DEFAULTS, loadConfig, loadPlugins } from '../config.js';
import { formatTable, type Column, type Format } from '@headbench/results';

export interface ParamsRequest {
  backbones: readonly string[];
  heads: readonly string[];
  /** With trainers, a row per trainer saying how many parameters its first stage trains. */
  trainers?: readonly string[];
  /** The epochs the trainers' recipes are made for (default 5). */
  epochs?: number;
  inputSize: number;
  classes: number;
}

export interface ParamsRow {
  /** The backbone's canonical specifier: its name and the options that differ from the defaults. */
  backbone: string;
  head: string;
  inputSize: number;
  classes: number;
  featureShape: FeatureShape;
  params: ParamCounts;
  /** With trainers: the trainer, and the parameters its first stage trains (the head's alone when it freezes the backbone). */
  trainer?: string;
  trainedFirst?: number;
}

/** Parameter counts for every backbone x head, built but never trained; each model is disposed. */
export async function countCombinations(registry: PluginRegistry, request: ParamsRequest): Promise<ParamsRow[]> {
  // Every specifier and the input size are checked before the first (slow) build.
  const backbones = unique('backbones', request.backbones.map((s) => withoutWeights(registry, s)));
  const heads = unique('heads', request.heads.map((s) => {
    const plugin = registry.create('head', s);
    return { label: canonical(registry, 'head', plugin), plugin };
  }));
  for (const { plugin } of backbones) plugin.featureShape(request.inputSize);

  const trainers = request.trainers ? trainersOf(registry, request.trainers) : undefined;
  const epochs = request.epochs ?? 5;
  const rows: ParamsRow[] = [];
  for (const backbone of backbones) {
    for (const head of heads) {
      // The seed changes initial values only, never counts.
      const composed = await composeModel(backbone.plugin, head.plugin, { inputSize: request.inputSize, classes: request.classes, seed: 0 });
      const { inputSize, classes } = request;
      const row = { backbone: backbone.label, head: head.label, inputSize, classes, featureShape: composed.featureShape, params: composed.params };
      for (const trainer of trainers ?? []) {
        const recipe = checkRecipe(trainer.plugin, trainer.plugin.recipe({ lr: 0.01, epochs, stepsPerEpoch: 1 }), epochs);
        const restore = recipe.stages[0]!.train === 'head' ? freeze(composed.backboneLayers) : () => {};
        const trainedFirst = countParams(composed.model).trainable;
        restore();
        rows.push({ ...row, trainer: trainer.label, trainedFirst });
      }
      if (!trainers) rows.push(row);
      composed.model.dispose();
    }
  }
  return rows;
}

export const PARAMS_COLUMNS: readonly Column<ParamsRow>[] = [
  { key: 'backbone', title: 'backbone', value: (r) => r.backbone },
  { key: 'head', title: 'head', value: (r) => r.head },
  { key: 'inputSize', title: 'input', value: (r) => r.inputSize },
  { key: 'classes', title: 'classes', value: (r) => r.classes },
  { key: 'featureShape', title: 'features', value: (r) => r.featureShape.join('x') },
  { key: 'total', title: 'total', value: (r) => r.params.total },
  { key: 'trainable', title: 'trainable', value: (r) => r.params.trainable },
  { key: 'nonTrainable', title: 'non-trainable', value: (r) => r.params.nonTrainable },
  { key: 'headParams', title: 'head params', value: (r) => r.params.head },
];

/** With --trainer: which trainer, and what its first stage trains. */
export const TRAINER_PARAMS_COLUMNS: readonly Column<ParamsRow>[] = [
  ...PARAMS_COLUMNS.slice(0, 2),
  { key: 'trainer', title: 'trainer', value: (r) => r.trainer ?? '' },
  ...PARAMS_COLUMNS.slice(2),
  { key: 'trainedFirst', title: 'trained in stage 1', value: (r) => r.trainedFirst ?? '' },
];

/** What the command line gives `headbench params`, global options included. */
export interface ParamsOptions {
  backbone?: string[];
  head?: string[];
  trainer?: string[];
  epochs?: number;
  inputSize?: number;
  classes?: number;
  format: Format;
  config?: string;
  plugin?: string[];
}

export async function runParams(options: ParamsOptions, cwd: string): Promise<string> {
  const loaded = await loadConfig(cwd, options.config);
  const registry = await loadPlugins(loaded, options.plugin ?? [], cwd);
  const { config } = loaded;
  const classes = options.classes ?? config.classes;
  if (classes === undefined) {
    // Head sizes are proportional to the class count, so a silent default would mislead.
    throw new UsageError(`give the number of classes: --classes <n> (or classes in ${loaded.file ?? 'a headbench.config.js'})`);
  }
  const rows = await countCombinations(registry, {
    backbones: options.backbone ?? config.backbones ?? DEFAULTS.backbones,
    heads: options.head ?? config.heads ?? DEFAULTS.heads,
    ...(options.trainer ? { trainers: options.trainer } : {}),
    ...(options.epochs !== undefined ? { epochs: options.epochs } : {}),
    inputSize: options.inputSize ?? config.inputSize ?? DEFAULTS.inputSize,
    classes,
  });
  return formatTable(rows, options.trainer ? TRAINER_PARAMS_COLUMNS : PARAMS_COLUMNS, options.format);
}
