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
      trainers: ['sgd'],
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

  it('recipes: gap and flatten, each with sgd at 0.1 and 0.01 and adam at 1e-3 and 1e-4, on flowers-mini', () => {
    const settings = resolveSettings({ preset: 'recipes' }, {});
    expect(settings).toMatchObject({ backbones: ['mobilenetv2:alpha=0.35'], heads: ['gap', 'flatten'], inputSize: 96, epochs: 5, seeds: [1], train: `${FLOWERS_MINI}/train` });
    const trainers = settings.trainers.map((t) => (typeof t === 'string' ? t : { trainer: t.trainer, learningRates: t.lr }));
    const combinations = plan({ backbones: settings.backbones, heads: settings.heads, trainers, learningRates: settings.lr, seeds: settings.seeds });
    expect(combinations.map((c) => `${c.head} ${c.trainer} ${c.lr}`)).toEqual([
      'gap sgd 0.1', 'gap sgd 0.01', 'gap adam 0.001', 'gap adam 0.0001',
      'flatten sgd 0.1', 'flatten sgd 0.01', 'flatten adam 0.001', 'flatten adam 0.0001',
    ]);
    // --lr gives every trainer the same rates again.
    expect(resolveSettings({ preset: 'recipes', lr: [0.05] }, {}).trainers).toEqual(['sgd', 'adam']);
  });

  it('probe: every built-in head on a frozen ImageNet backbone, two learning rates, three seeds, a test split, no timings', () => {
    const settings = resolveSettings({ preset: 'probe' }, {});
    expect(settings).toMatchObject({ backbones: ['mobilenetv2:alpha=0.35,trainable=false'], lr: [0.1, 0.01], seeds: [1, 2, 3], inputSize: 96, epochs: 5, testSplit: 0.2, baseline: 'gap', train: `${FLOWERS_MINI}/train` });
    const registry = new PluginRegistry();
    registerBuiltins(registry);
    const builtinHeads = registry.names('head').sort();
    expect([...settings.heads].sort()).toEqual(builtinHeads);
    expect(plan({ backbones: settings.backbones, heads: settings.heads, learningRates: settings.lr, seeds: settings.seeds })).toHaveLength(66);
    expect(PRESETS['probe']!.bench).toBe(false);
  });

  it('--momentum is the trainer sgd:momentum=<m>, and is refused beside --trainer', () => {
    expect(resolveSettings({ momentum: 0.9 }, {}).trainers).toEqual(['sgd:momentum=0.9']);
    expect(resolveSettings({ momentum: 0 }, {}).trainers).toEqual(['sgd']);
    expect(resolveSettings({}, { momentum: 0.5 }).trainers).toEqual(['sgd:momentum=0.5']);
    expect(resolveSettings({ trainer: ['adam'] }, { momentum: 0.5 }).trainers).toEqual(['adam']);
    expect(() => resolveSettings({ momentum: 0.9, trainer: ['adam'] }, {})).toThrow("--momentum 0.9 is SGD's momentum, but --trainer names the trainers; write --trainer sgd:momentum=0.9 instead");
    expect(() => resolveSettings({}, { momentum: 0.9, trainers: ['adam'] })).toThrow("the config file gives momentum: 0.9 beside trainers; write the trainer 'sgd:momentum=0.9' in trainers instead");
  });

  it('heads: every built-in head against gap, lr 0.1 and 0.01, three seeds, a test split of train', () => {
    const settings = resolveSettings({ preset: 'heads' }, {});
    expect(settings).toMatchObject({ backbones: ['mobilenetv2:alpha=0.35'], lr: [0.1, 0.01], seeds: [1, 2, 3], inputSize: 96, epochs: 5, testSplit: 0.2, baseline: 'gap', val: `${FLOWERS_MINI}/val` });
    const registry = new PluginRegistry();
    registerBuiltins(registry);
    // A head added to the built-ins joins the leaderboard, or this fails.
    expect([...settings.heads].sort()).toEqual(registry.names('head').sort());
    expect(plan({ backbones: settings.backbones, heads: settings.heads, learningRates: settings.lr, seeds: settings.seeds })).toHaveLength(settings.heads.length * 2 * 3);
  });

  it('name only built-in plugins, so that they run without --plugin', () => {
    const registry = new PluginRegistry();
    registerBuiltins(registry);
    for (const [name, { settings }] of Object.entries(PRESETS)) {
      for (const spec of settings.heads ?? []) expect({ name, head: registry.create('head', spec).meta.name }).toEqual({ name, head: spec.split(':')[0] });
      for (const spec of settings.backbones ?? []) expect({ name, backbone: registry.create('backbone', spec).meta.name }).toEqual({ name, backbone: spec.split(':')[0] });
      for (const t of settings.trainers ?? []) {
        const spec = typeof t === 'string' ? t : t.trainer;
        expect({ name, trainer: registry.create('trainer', spec).meta.name }).toEqual({ name, trainer: spec.split(':')[0] });
      }
    }
  });
});
