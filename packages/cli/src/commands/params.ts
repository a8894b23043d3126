import { composeModel, UsageError, type FeatureShape, type ParamCounts, type PluginRegistry } from '@headbench/core';
import { canonical, unique, withoutWeights } from '../specifiers.js';
import { DEFAULTS, loadConfig, loadPlugins } from '../config.js';
import { formatTable, type Column, type Format } from '@headbench/core';

export interface ParamsRequest {
  backbones: readonly string[];
  heads: readonly string[];
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

  const rows: ParamsRow[] = [];
  for (const backbone of backbones) {
    for (const head of heads) {
      // The seed changes initial values only, never counts.
      const composed = await composeModel(backbone.plugin, head.plugin, { inputSize: request.inputSize, classes: request.classes, seed: 0 });
      composed.model.dispose();
      const { inputSize, classes } = request;
      rows.push({ backbone: backbone.label, head: head.label, inputSize, classes, featureShape: composed.featureShape, params: composed.params });
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

/** What the command line gives `headbench params`, global options included. */
export interface ParamsOptions {
  backbone?: string[];
  head?: string[];
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
    inputSize: options.inputSize ?? config.inputSize ?? DEFAULTS.inputSize,
    classes,
  });
  return formatTable(rows, PARAMS_COLUMNS, options.format);
}
