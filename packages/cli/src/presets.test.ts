import { describe, expect, it } from 'vitest';
import { plan, PluginRegistry } from '@headbench/core';
import { registerBuiltins } from './builtins.js';
import { resolveSettings } from './commands/run.js';
import { FLOWERS_MINI, PRESETS } from './presets.js';

describe('presets', () => {
  it('nightly: gap, flatten and gmp on flowers-mini at 96x96, lr 0.01, seeds 1 and 2, 5 epochs', () => {
    const settings = resolveSettings({ preset: 'nightly' }, {});
    expect(settings).toEqual({
      preset: 'nightly',
      backbones: ['mobilenetv2:alpha=0.35'],
      heads: ['gap', 'flatten', 'gmp'],
      lr: [0.01],
      seeds: [1, 2],
      inputSize: 96,
      epochs: 5,
      batchSize: 32,
      momentum: 0,
      train: `${FLOWERS_MINI}/train`,
      val: `${FLOWERS_MINI}/val`,
      valSplit: undefined,
    });
    const combinations = plan({ backbones: settings.backbones, heads: settings.heads, learningRates: settings.lr, seeds: settings.seeds });
    expect(combinations.map((c) => `${c.head}/${c.seed}`)).toEqual(['gap/1', 'gap/2', 'flatten/1', 'flatten/2', 'gmp/1', 'gmp/2']);
  });

  it('name only built-in plugins, so that they run without --plugin', () => {
    const registry = new PluginRegistry();
    registerBuiltins(registry);
    for (const [name, { settings }] of Object.entries(PRESETS)) {
      for (const spec of settings.heads ?? []) expect({ name, head: registry.create('head', spec).meta.name }).toEqual({ name, head: spec.split(':')[0] });
      for (const spec of settings.backbones ?? []) expect({ name, backbone: registry.create('backbone', spec).meta.name }).toEqual({ name, backbone: spec.split(':')[0] });
    }
  });
});
