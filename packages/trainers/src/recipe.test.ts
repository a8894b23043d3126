import { PluginRegistry, UsageError } from '@headbench/core';
import { describe, expect, it } from 'vitest';
import { adam, adamw, rmsprop, sgd } from './index.js';

const registry = new PluginRegistry();
for (const factory of [sgd, adam, adamw, rmsprop]) registry.register(factory, '@headbench/trainers');
const recipe = (spec: string, lr = 0.01, epochs = 5, stepsPerEpoch = 10) => registry.create('trainer', spec).recipe({ lr, epochs, stepsPerEpoch });

describe('built-in recipes', () => {
  it('default sgd is one stage of plain SGD at --lr, the seed experiment', () => {
    const { stages, labelSmoothing, augment } = recipe('sgd', 0.1);
    expect(stages).toHaveLength(1);
    expect(stages[0]).toMatchObject({ epochs: 5, train: 'all', optimizer: { name: 'sgd', options: { momentum: 0, nesterov: false }, weightDecay: 0, clipNorm: 0 } });
    expect([0, 17, 49].map((s) => stages[0]!.learningRate(s))).toEqual([0.1, 0.1, 0.1]);
    expect(labelSmoothing).toBeUndefined();
    expect(augment).toBeUndefined();
  });

  it('adamw is adam with decoupled weight decay 0.004', () => {
    expect(recipe('adamw').stages[0]!.optimizer).toEqual({ name: 'adam', options: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }, weightDecay: 0.004, clipNorm: 0 });
    expect(recipe('adam').stages[0]!.optimizer).toEqual({ name: 'adam', options: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }, weightDecay: 0, clipNorm: 0 });
  });

  it('freezeEpochs trains the head first at --lr, then everything at finetuneLr, each stage with its own schedule', () => {
    const { stages } = recipe('adam:freezeEpochs=2,finetuneLr=0.00001,schedule=cosine', 0.001, 5, 10);
    expect(stages.map((s) => [s.epochs, s.train])).toEqual([[2, 'head'], [3, 'all']]);
    expect(stages[0]!.learningRate(0)).toBe(0.001);
    expect(stages[1]!.learningRate(0)).toBe(0.00001);
    // Cosine over each stage's own steps: halfway through the second stage's 30 steps, half the rate.
    expect(stages[1]!.learningRate(15)).toBeCloseTo(0.000005, 12);
    expect(stages[0]!.learningRate(10)).toBeCloseTo(0.0005, 12);
  });

  it("finetuneLr 0 is a hundredth of --lr, Keras' guide's ratio; all frozen epochs give one head stage", () => {
    expect(recipe('sgd:freezeEpochs=1', 0.1).stages[1]!.learningRate(0)).toBeCloseTo(0.001, 15);
    expect(recipe('sgd:freezeEpochs=5', 0.1).stages.map((s) => s.train)).toEqual(['head']);
  });

  it('warms up linearly from 0 over warmupEpochs, then decays by stepRate every stepEvery epochs', () => {
    const { stages } = recipe('sgd:schedule=step,warmupEpochs=1,stepEvery=2,stepRate=0.5', 0.1, 5, 10);
    const at = (s: number) => stages[0]!.learningRate(s);
    expect([0, 5, 10, 29, 30, 49].map(at)).toEqual([0, 0.05, 0.1, 0.1, 0.05, 0.05]);
    expect(recipe('sgd:schedule=step,stepEvery=2,stepRate=0.5', 0.1, 5, 10).stages[0]!.learningRate(40)).toBe(0.025);
    // stepEvery 0: a third of the stage (5 epochs: every 2).
    expect(recipe('sgd:schedule=step', 0.1, 5, 10).stages[0]!.learningRate(20)).toBeCloseTo(0.01, 15);
  });

  it('augmentation and label smoothing are the recipe\'s', () => {
    expect(recipe('sgd:flip=true,zoom=0.1,labelSmoothing=0.1')).toMatchObject({ augment: { flip: true, zoom: 0.1 }, labelSmoothing: 0.1 });
  });

  it('refuses stages that cannot be, naming the option and the fix', () => {
    expect(() => recipe('adam:freezeEpochs=6')).toThrow(new UsageError("adam: freezeEpochs=6 is more than the run's 5 epochs; give --epochs at least 6 or fewer frozen epochs"));
    expect(() => recipe('sgd:warmupEpochs=2,freezeEpochs=3', 0.1, 5, 10)).toThrow(/sgd: warmupEpochs=2 leaves nothing of a 2-epoch stage \(20 steps\) after warmup/);
    expect(() => registry.create('trainer', 'adam:schedule=linear')).toThrow(/adam: option schedule="linear" is not supported; expected one of constant, cosine, step/);
    expect(() => registry.create('trainer', 'sgd:momentum=1')).toThrow(/sgd: option momentum=1 is out of range/);
  });
});
