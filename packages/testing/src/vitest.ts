import { describe, it } from 'vitest';
import type { BackbonePlugin, HeadPlugin, TrainerPlugin } from '@headbench/core';
import { BACKBONE_CHECKS, type BackboneConformanceOptions } from './backbone.js';
import { HEAD_CHECKS, type HeadConformanceOptions } from './head.js';
import { TRAINER_CHECKS, type TrainerConformanceOptions } from './trainer.js';
import { subjectOf, type Check, type FactoryOf, type Make } from './shared.js';

function describeChecks<P extends HeadPlugin | BackbonePlugin | TrainerPlugin, O extends { options?: Record<string, unknown> }>(
  kind: P['meta']['kind'],
  checks: readonly Check<P, O>[],
  factory: FactoryOf<P>,
  options?: O,
): void {
  const made = options?.options ? ` ${JSON.stringify(options.options)}` : '';
  describe(`${subjectOf(kind, factory as unknown as Make<P>)}${made} conforms to the ${kind} contract`, () => {
    for (const check of checks) it(check.title, () => check.run(factory, options));
  });
}

/**
 * Registers one vitest test per head check: call it at the top level of a test file,
 * `describeHeadConformance(gap)`, or with options, `describeHeadConformance(mlp, { options: { units: 8 } })`.
 */
export function describeHeadConformance(factory: FactoryOf<HeadPlugin>, options?: HeadConformanceOptions): void {
  describeChecks('head', HEAD_CHECKS, factory, options);
}

/** Registers one vitest test per backbone check; pass cheap build options (`weights: 'none'`, small inputSizes). */
export function describeBackboneConformance(factory: FactoryOf<BackbonePlugin>, options?: BackboneConformanceOptions): void {
  describeChecks('backbone', BACKBONE_CHECKS, factory, options);
}

/**
 * Registers one vitest test per trainer check: `describeTrainerConformance(adam, { freezeOptions: { freezeEpochs: 1 } })`.
 * The checks train a small model for two epochs, several times.
 */
export function describeTrainerConformance(factory: FactoryOf<TrainerPlugin>, options?: TrainerConformanceOptions): void {
  describeChecks('trainer', TRAINER_CHECKS, factory, options);
}
