// The built-in trainers against Keras 3.15 (tools/keras-reference/make_trainer_fixtures.py wrote
// fixtures/keras/trainers.json): their defaults are Keras' optimiser defaults, their schedules give
// Keras' learning rate at every step, and for each configuration of the three-step parity test
// (packages/backbones/src/keras-optimizers.test.ts) the trainer gives the engine spec, label
// smoothing and learning rates that test feeds and checks against Keras' train_on_batch.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PluginRegistry, type OptimizerSpec } from '@headbench/core';
import { describe, expect, it } from 'vitest';
import { adam, adamw, rmsprop, sgd } from './index.js';

interface Fixture {
  keras: string;
  defaults: Record<'SGD' | 'Adam' | 'AdamW' | 'RMSprop', Record<string, number | boolean | null>>;
  schedules: { lr: number; epochs: number; stepsPerEpoch: number; cases: { trainer: string; keras: string; values: number[] }[] };
  optimizerSteps: { name: string; trainer: string; lr: number; epochs: number; stepsPerEpoch: number; labelSmoothing: number; engine: OptimizerSpec; learningRates: number[] }[];
}
const fixture = JSON.parse(readFileSync(fileURLToPath(new URL('../fixtures/keras/trainers.json', import.meta.url)), 'utf8')) as Fixture;

const registry = new PluginRegistry();
for (const factory of [sgd, adam, adamw, rmsprop]) registry.register(factory, '@headbench/trainers');

/**
 * Ours (rounded to float32, as Keras computes schedules) against Keras', in units of 1e-6 of
 * Keras' value or 1e-7 of the peak rate, whichever is larger: near the end of a cosine Keras'
 * float32 `1 + cos(x)` keeps only a few bits.
 */
const apart = (ours: number, theirs: number, peak: number) => Math.abs(Math.fround(ours) - theirs) / Math.max(1e-6 * Math.abs(theirs), 1e-7 * peak);

describe(`the built-in trainers have Keras ${fixture.keras}' defaults`, () => {
  it.each([
    ['sgd', 'SGD', { momentum: 'momentum', nesterov: 'nesterov', weightDecay: 'weight_decay' }],
    ['adam', 'Adam', { beta1: 'beta_1', beta2: 'beta_2', epsilon: 'epsilon', weightDecay: 'weight_decay' }],
    ['adamw', 'AdamW', { beta1: 'beta_1', beta2: 'beta_2', epsilon: 'epsilon', weightDecay: 'weight_decay' }],
    ['rmsprop', 'RMSprop', { rho: 'rho', momentum: 'momentum', epsilon: 'epsilon', centered: 'centered', weightDecay: 'weight_decay' }],
  ] as const)('%s is keras.optimizers.%s()', (name, kind, keys) => {
    const options = registry.create('trainer', name).options;
    const keras = fixture.defaults[kind];
    for (const [ours, theirs] of Object.entries(keys)) expect(options[ours], `${ours} (${theirs})`).toBe(keras[theirs] ?? 0);
    // Keras' other options that the built-ins leave at their defaults: no clipping, no AMSGrad.
    expect(keras['clipnorm'] ?? null).toBeNull();
    expect(options['clipNorm']).toBe(0);
    if ('amsgrad' in keras) expect(keras['amsgrad']).toBe(false);
  });
});

describe("schedules give Keras' learning rate at every step", () => {
  const { lr, epochs, stepsPerEpoch } = fixture.schedules;
  it.each(fixture.schedules.cases.map((c) => [c.trainer, c] as const))('%s', (_trainer, { trainer, keras, values }) => {
    const [stage] = registry.create('trainer', trainer).recipe({ lr, epochs, stepsPerEpoch }).stages;
    expect(values).toHaveLength(epochs * stepsPerEpoch);
    values.forEach((value, step) => expect(apart(stage!.learningRate(step), value, lr), `${keras} at step ${step}`).toBeLessThan(1));
  });
});

describe('the trainers of the Keras parity test give its engine specs and learning rates', () => {
  it.each(fixture.optimizerSteps.map((c) => [c.trainer, c] as const))('%s', (_trainer, config) => {
    const recipe = registry.create('trainer', config.trainer).recipe({ lr: config.lr, epochs: config.epochs, stepsPerEpoch: config.stepsPerEpoch });
    expect(recipe.stages).toHaveLength(1);
    const [stage] = recipe.stages;
    expect(stage!.train).toBe('all');
    expect(stage!.optimizer).toEqual(config.engine);
    expect(recipe.labelSmoothing ?? 0).toBe(config.labelSmoothing);
    config.learningRates.forEach((value, step) => expect(apart(stage!.learningRate(step), value, config.lr), `step ${step}`).toBeLessThan(1));
  });
});
