import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defineHead } from './define.js';
import { importPluginModule, PluginRegistry } from './registry.js';
import { tf } from '@headbench/engine';

const dense = defineHead({
  meta: { name: 'dense-test', version: '1.0.0' },
  schema: { units: { type: 'number', default: 4, min: 1, integer: true, description: 'hidden units' } },
  build: (features, { classes }, { units }) => {
    const hidden = tf.layers.dense({ units }).apply(tf.layers.flatten().apply(features)) as tf.SymbolicTensor;
    return tf.layers.dense({ units: classes }).apply(hidden) as tf.SymbolicTensor;
  },
});

describe('PluginRegistry', () => {
  it('creates a registered plugin from a specifier, with typed options', () => {
    const registry = new PluginRegistry();
    registry.register(dense, 'test');
    const head = registry.create('head', 'dense-test:units=7');
    expect(head.meta).toEqual({ name: 'dense-test', version: '1.0.0', kind: 'head' });
    expect(head.options).toEqual({ units: 7 });
  });

  it('names the known plugins of that kind for an unknown name', () => {
    const registry = new PluginRegistry();
    registry.register(dense, 'test');
    expect(() => registry.create('head', 'gmp')).toThrow('unknown head "gmp"; known heads: dense-test');
  });

  it('says when a plugin is of the other kind', () => {
    const registry = new PluginRegistry();
    registry.register(dense, 'test');
    expect(() => registry.create('backbone', 'dense-test')).toThrow('"dense-test" is a head plugin (from test), not a backbone');
  });

  it('says what was found when a module is not a plugin', () => {
    const registry = new PluginRegistry();
    expect(() => registry.register({ build() {} }, 'pkg-a')).toThrow('pkg-a is not a plugin factory: expected a function returning a plugin, found an object with keys build');
    expect(() => registry.register(() => ({ name: 'x' }), 'pkg-b')).toThrow('pkg-b is not a headbench plugin: its factory returned an object with keys name (no meta)');
    expect(() => registry.register(() => ({ meta: { name: 'x', version: '1', kind: 'loss' } }), 'pkg-c')).toThrow('plugin "x" of unknown kind "loss"');
  });
});

describe('importPluginModule', () => {
  it('returns the default export, or says what the module exports instead', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-plugin-'));
    fs.writeFileSync(path.join(dir, 'good.mjs'), 'export default function good() { return 1; }\n');
    fs.writeFileSync(path.join(dir, 'named.mjs'), 'export const gmp = 1;\n');
    expect(typeof (await importPluginModule('./good.mjs', dir))).toBe('function');
    await expect(importPluginModule('./named.mjs', dir)).rejects.toThrow('plugin module "./named.mjs" has no default export; found exports gmp');
    await expect(importPluginModule('headbench-no-such-plugin', dir)).rejects.toThrow(/cannot find plugin module "headbench-no-such-plugin"/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
