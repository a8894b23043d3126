import { formatSpecifier, parseSpecifier, UsageError, type BackbonePlugin, type HeadPlugin, type PluginKind, type PluginRegistry, type TrainerPlugin } from '@headbench/core';

/** A plugin's row name: its name and the options that differ from its defaults. */
export function canonical(registry: PluginRegistry, kind: PluginKind, plugin: BackbonePlugin | HeadPlugin | TrainerPlugin): string {
  const defaults = registry.create(kind, plugin.meta.name).options;
  return formatSpecifier(plugin.meta.name, plugin.options, defaults);
}

// Counting and timing need the graph, not the weights: `weights=none` keeps any path or download
// from being read. The label keeps what the user asked for.
export function withoutWeights(registry: PluginRegistry, specifier: string): { label: string; plugin: BackbonePlugin } {
  const asked = registry.create('backbone', specifier);
  const label = canonical(registry, 'backbone', asked);
  if (!('weights' in asked.schema) || asked.options['weights'] === 'none') return { label, plugin: asked };
  const { name, options } = parseSpecifier(specifier);
  return { label, plugin: registry.create('backbone', formatSpecifier(name, { ...options, weights: 'none' })) };
}

/** Rejects a list that names the same plugin twice. */
export function unique<T extends { label: string }>(what: string, items: T[]): T[] {
  const seen = new Set<string>();
  for (const { label } of items) {
    if (seen.has(label)) throw new UsageError(`the ${what} include ${label} twice (options at their defaults are left out of names)`);
    seen.add(label);
  }
  return items;
}


/**
 * The trainers a command names, each made (so a bad option is refused before anything runs) and
 * named canonically: `sgd:momentum=0` is `sgd`, the default trainer, whose rows keep the ids they
 * had before the trainer axis.
 */
export function trainersOf(registry: PluginRegistry, specifiers: readonly string[]): { label: string; plugin: TrainerPlugin }[] {
  return unique(
    'trainers',
    specifiers.map((s) => {
      const plugin = registry.create('trainer', s);
      return { label: canonical(registry, 'trainer', plugin), plugin };
    }),
  );
}
