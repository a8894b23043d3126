import { describe, expect, it } from 'vitest';
import { plan, PluginRegistry } from '@headbench/core';
import { registerBuiltins } from './builtins.js';
import { resolveSettings } from './commands/run.js';
import { FLOWERS_MINI, PRESETS } from './presets.js';

describe('presets', () => {
  it('nightly: gap, flatten and gmp on flowers-mini at 96x96, lr 0.01, seeds 1, 2 and 3, 5 epochs, gap the baseline', () => {
    const settings = resolveSettings({ preset: 'nightly' }, {});
    expect(settings).toEqual({
      preset: 'nightly',
      backbones: ['mobilenetv2:alpha=0.35'],
      heads: ['gap', 'flatten', 'gmp'],
      lr: [0.01],
      seeds: [1, 2, 3],
      inputSize: 96,
      epochs: 5,
      batchSize: 32,
      momentum: 0,
      train: `${FLOWERS_MINI}/train`,
      val: `${FLOWERS_MINI}/val`,
      valSplit: undefined,
      baseline: 'gap',
    });
    const combinations = plan({ backbones: settings.backbones, heads: settings.heads, learningRates: settings.lr, seeds: settings.seeds });
    expect(combinations.map((c) => `${c.head}/${c.seed}`)).toEqual(['gap/1', 'gap/2', 'gap/3', 'flatten/1', 'flatten/2', 'flatten/3', 'gmp/1', 'gmp/2', 'gmp/3']);
  });

  it('default and seed keep one seed; a test split and the baseline come from flags or the config', () => {
    expect(resolveSettings({}, {}).seeds).toEqual([1]);
    expect(resolveSettings({ preset: 'seed', train: '/x', valSplit: 0.2 }, {}).seeds).toEqual([1]);
    expect(resolveSettings({ testSplit: 0.2, baseline: 'flatten' }, {})).toMatchObject({ testSplit: 0.2, baseline: 'flatten', val: `${FLOWERS_MINI}/val` });
    expect(resolveSettings({}, { test: '/t', baseline: 'flatten' })).toMatchObject({ test: '/t', baseline: 'flatten' });
    expect(() => resolveSettings({ baseline: 'vgg' }, {})).toThrow("--baseline vgg: the baseline must be one of the run's heads (gap, flatten); add it with --head vgg or pick one of those");
    expect(() => resolveSettings({ test: '/t', testSplit: 0.2 }, {})).toThrow('give either --test <dir> or --test-split <fraction>, not both');
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
