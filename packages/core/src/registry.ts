import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import path from 'node:path';
import { UsageError } from '@headbench/errors';
import { coerceOptionStrings, parseSpecifier } from './options.js';
import { describeValue, notAPlugin, type Plugin, type PluginFactory, type PluginKind, type PluginOfKind } from './plugin.js';

interface Entry {
  kind: PluginKind;
  factory: PluginFactory;
  source: string;
}

/**
 * The plugins a run can name. Built-in plugins and those from a config file or `--plugin` are
 * registered by the name in their meta; `create('head', 'gap:units=3')` makes one.
 */
export class PluginRegistry {
  readonly #entries = new Map<string, Entry>();

  /** Registers a factory (a plugin package's default export); `source` says where it came from. */
  register(factory: unknown, source: string): Plugin {
    if (typeof factory !== 'function') {
      throw new UsageError(`${source} is not a plugin factory: expected a function returning a plugin, found ${describeValue(factory)}`);
    }
    let sample: unknown;
    try {
      sample = (factory as PluginFactory)();
    } catch (error) {
      throw new UsageError(`${source}: calling the plugin factory with no options failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    const problem = notAPlugin(sample);
    if (problem) throw new UsageError(`${source} is not a headbench plugin: its factory returned ${problem}`);
    const plugin = sample as Plugin;
    const existing = this.#entries.get(plugin.meta.name);
    if (existing && existing.factory !== factory) {
      throw new UsageError(`two plugins are named "${plugin.meta.name}": ${existing.source} and ${source}; rename one (meta.name)`);
    }
    this.#entries.set(plugin.meta.name, { kind: plugin.meta.kind, factory: factory as PluginFactory, source });
    return plugin;
  }

  names(kind: PluginKind): string[] {
    return [...this.#entries].filter(([, e]) => e.kind === kind).map(([name]) => name).sort();
  }

  /** Makes the plugin named by a specifier such as `mobilenetv2:alpha=0.5,weights=imagenet`. */
  create<K extends PluginKind>(kind: K, specifier: string): PluginOfKind<K> {
    const { name, options } = parseSpecifier(specifier);
    const entry = this.#entries.get(name);
    if (!entry) {
      const known = this.names(kind);
      throw new UsageError(`unknown ${kind} "${name}"; known ${kind}s: ${known.join(', ') || 'none'} (load others with --plugin <package> or a headbench.config.js)`);
    }
    if (entry.kind !== kind) {
      throw new UsageError(`"${name}" is a ${entry.kind} plugin (from ${entry.source}), not a ${kind}; known ${kind}s: ${this.names(kind).join(', ')}`);
    }
    const schema = entry.factory().schema;
    return entry.factory(coerceOptionStrings(name, schema, options)) as PluginOfKind<K>;
  }
}

/**
 * Imports a plugin module by package name or path, resolved from `fromDir`, and returns its
 * default export (the factory), with errors that say what was found instead.
 */
export async function importPluginModule(specifier: string, fromDir: string): Promise<unknown> {
  let resolved: string;
  try {
    const isPath = specifier.startsWith('.') || path.isAbsolute(specifier);
    resolved = isPath ? path.resolve(fromDir, specifier) : createRequire(path.join(fromDir, 'noop.js')).resolve(specifier);
  } catch {
    throw new UsageError(`cannot find plugin module "${specifier}" from ${fromDir}; install it (npm install ${specifier}) or give a path`);
  }
  const module = (await import(pathToFileURL(resolved).href)) as Record<string, unknown>;
  if (!('default' in module)) {
    throw new UsageError(`plugin module "${specifier}" has no default export; found exports ${Object.keys(module).join(', ') || '(none)'}; export the plugin factory as default`);
  }
  return module['default'];
}
