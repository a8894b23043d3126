import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeValue, importPluginModule, PluginRegistry, UsageError, type PluginFactory } from '@headbench/core';
import { registerBuiltins } from './builtins.js';

/** What `headbench.config.js` default-exports. Command-line flags override each field. */
export interface HeadbenchConfig {
  /** Plugin factories (a plugin package's default export), registered beside the built-in ones. */
  plugins?: PluginFactory[];
  /** Backbone specifiers, such as `mobilenetv2:alpha=0.5`. */
  backbones?: string[];
  /** Head specifiers, such as `gap`. */
  heads?: string[];
  /**
   * Trainer specifiers, such as `adam:schedule=cosine`, each at every `lr`; or with learning
   * rates of their own, `{ trainer: 'adam', lr: [1e-3, 1e-4] }` (`--lr` overrides those).
   */
  trainers?: (string | { trainer: string; lr: number[] })[];
  /** Learning rates to train each combination with. */
  lr?: number[];
  /** Seeds to repeat each combination with. */
  seeds?: number[];
  /** Square input size in pixels. */
  inputSize?: number;
  /** Number of classes; head sizes grow with it (params, and the synthetic dataset). */
  classes?: number;
  /** A named preset that `run` starts from (`default`, `seed`, `backbones`, `recipes`, `heads`, `nightly`, `probe`: presets.ts); the fields here override it. */
  preset?: string;
  /** Training images as `<dir>/<class>/<image>`. */
  train?: string;
  /** Validation images, with the same class folders as `train`. */
  val?: string;
  /** Instead of `val`: the fraction of `train` held out, chosen with the seed. */
  valSplit?: number;
  /** Test images, evaluated once per combination after training (the best-lr verdicts use them). */
  test?: string;
  /** Instead of `test`: the fraction of `train` held out as a test split. */
  testSplit?: number;
  /** The head every other head is compared with (default: the first of `heads`). */
  baseline?: string;
  epochs?: number;
  batchSize?: number;
  /** SGD momentum (0, plain SGD, as in the seed experiment): the trainer `sgd:momentum=<m>`; not beside `trainers`. */
  momentum?: number;
}

/** Types a config file; returns it unchanged. */
export function defineConfig(config: HeadbenchConfig): HeadbenchConfig {
  return config;
}

export const CONFIG_FILES = ['headbench.config.js', 'headbench.config.mjs'] as const;

export const DEFAULTS = { backbones: ['mobilenetv2'], heads: ['gap', 'flatten'], inputSize: 224 } as const;

const isInteger = (v: unknown): v is number => Number.isInteger(v);
const listOf = (check: (v: unknown) => boolean) => (v: unknown) => Array.isArray(v) && v.length > 0 && v.every(check);

// A typo such as `head:` for `heads:` would otherwise be ignored and the defaults used silently.
const FIELDS: Record<keyof HeadbenchConfig, { check(v: unknown): boolean; expected: string }> = {
  plugins: { check: Array.isArray, expected: 'an array of plugin factories' },
  backbones: { check: listOf((v) => typeof v === 'string'), expected: 'a non-empty array of backbone specifiers' },
  heads: { check: listOf((v) => typeof v === 'string'), expected: 'a non-empty array of head specifiers' },
  trainers: {
    check: listOf((v) => typeof v === 'string' || (typeof v === 'object' && v !== null && typeof (v as { trainer?: unknown }).trainer === 'string' && listOf((r) => typeof r === 'number' && r > 0 && Number.isFinite(r))((v as { lr?: unknown }).lr))),
    expected: "a non-empty array of trainer specifiers or { trainer: 'adam', lr: [0.001] } objects",
  },
  lr: { check: listOf((v) => typeof v === 'number' && v > 0 && Number.isFinite(v)), expected: 'a non-empty array of positive numbers' },
  seeds: { check: listOf(isInteger), expected: 'a non-empty array of integers' },
  inputSize: { check: (v) => isInteger(v) && v > 0, expected: 'a positive integer' },
  classes: { check: (v) => isInteger(v) && v >= 2, expected: 'an integer >= 2' },
  preset: { check: (v) => typeof v === 'string', expected: 'a preset name' },
  train: { check: (v) => typeof v === 'string', expected: 'a folder path' },
  val: { check: (v) => typeof v === 'string', expected: 'a folder path' },
  valSplit: { check: (v) => typeof v === 'number' && v > 0 && v < 1, expected: 'a fraction between 0 and 1' },
  test: { check: (v) => typeof v === 'string', expected: 'a folder path' },
  testSplit: { check: (v) => typeof v === 'number' && v > 0 && v < 1, expected: 'a fraction between 0 and 1' },
  baseline: { check: (v) => typeof v === 'string', expected: 'a head specifier' },
  epochs: { check: (v) => isInteger(v) && v >= 1, expected: 'a positive integer' },
  batchSize: { check: (v) => isInteger(v) && v >= 1, expected: 'a positive integer' },
  momentum: { check: (v) => typeof v === 'number' && v >= 0 && v < 1, expected: 'a number in [0, 1)' },
};

export interface LoadedConfig {
  config: HeadbenchConfig;
  /** The file it came from, relative to the working directory; undefined when there is none. */
  file?: string;
}

/** Loads `--config <file>`, or else the first of CONFIG_FILES in `cwd`; no file is an empty config. */
export async function loadConfig(cwd: string, explicit?: string): Promise<LoadedConfig> {
  const file = explicit ? path.resolve(cwd, explicit) : CONFIG_FILES.map((name) => path.join(cwd, name)).find((f) => existsSync(f));
  if (!file) return { config: {} };
  const shown = path.relative(cwd, file) || file;
  if (!existsSync(file)) throw new UsageError(`--config ${explicit}: no such file (${file})`);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(`${shown}: loading it failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const config = module['default'];
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new UsageError(`${shown}: the default export is ${'default' in module ? describeValue(config) : 'missing'}; write export default defineConfig({ ... })`);
  }
  for (const [key, value] of Object.entries(config)) {
    const field = FIELDS[key as keyof HeadbenchConfig] as (typeof FIELDS)[keyof HeadbenchConfig] | undefined;
    if (!field) throw new UsageError(`${shown}: unknown key "${key}"; known keys: ${Object.keys(FIELDS).join(', ')}`);
    if (value !== undefined && !field.check(value)) throw new UsageError(`${shown}: ${key} is ${describeValue(value)}; expected ${field.expected}`);
  }
  return { config: config as HeadbenchConfig, file: shown };
}

/** The registry a command works with: built-ins, then the config's plugins, then each `--plugin`. */
export async function loadPlugins(loaded: LoadedConfig, pluginSpecifiers: readonly string[], cwd: string): Promise<PluginRegistry> {
  const registry = new PluginRegistry();
  registerBuiltins(registry);
  (loaded.config.plugins ?? []).forEach((factory, i) => registry.register(factory, `${loaded.file ?? 'config'} plugins[${i}]`));
  for (const specifier of pluginSpecifiers) {
    // Checked here: importing a missing file fails with a message that names core's registry.
    const file = specifier.startsWith('.') || path.isAbsolute(specifier) ? path.resolve(cwd, specifier) : undefined;
    if (file && !existsSync(file)) throw new UsageError(`--plugin ${specifier}: no such file (${file})`);
    let factory: unknown;
    try {
      factory = await importPluginModule(specifier, cwd);
    } catch (error) {
      if (error instanceof UsageError) throw error;
      // The plugin's own code failed while loading: the user's to fix, not headbench's.
      throw new UsageError(`--plugin ${specifier}: loading it failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    registry.register(factory, `--plugin ${specifier}`);
  }
  return registry;
}
