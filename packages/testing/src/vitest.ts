import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { tf, type BackbonePlugin, type HeadPlugin, type TrainerPlugin } from '@headbench/core';
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

interface NamedValues {
  shape: number[];
  values: number[];
}

/**
 * Registers a test of a head's forward pass against a reference fixture
 * (tools/keras-reference/make_head_fixtures.py: the head in NumPy, from its paper): the fixture's
 * weights, listed in the order the built model holds them, are written into the model and its
 * logits must match to 5 decimals. `fixture` is the JSON file's URL.
 */
export function describeHeadReference(factory: (options: Record<string, number>) => HeadPlugin, fixture: URL): void {
  const ref = JSON.parse(readFileSync(fixture, 'utf8')) as {
    head: string;
    options: Record<string, number>;
    featureShape: [number, number, number];
    classes: number;
    input: NamedValues;
    weights: Record<string, NamedValues>;
    logits: NamedValues;
  };
  describe(`${ref.head} against NumPy`, () => {
    it(`gives the reference logits with ${JSON.stringify(ref.options)}`, () => {
      const { featureShape, classes } = ref;
      const input = tf.input({ shape: [...featureShape] });
      const model = tf.model({ inputs: input, outputs: factory(ref.options).build(input, { classes, featureShape, seed: 1 }) });
      const named = Object.values(ref.weights);
      // Layer by layer, each layer's trainable weights then its others (BatchNorm's statistics).
      const variables = model.layers.flatMap((layer) => layer.weights);
      expect(variables.map((w) => w.shape.reduce<number>((a, b) => a * (b ?? 1), 1))).toEqual(named.map((w) => w.values.length));
      const weights = variables.map((w, i) => tf.tensor(named[i]!.values, w.shape as number[]));
      variables.forEach((w, i) => w.write(weights[i]!));
      const x = tf.tensor(ref.input.values, ref.input.shape);
      const logits = model.predict(x) as tf.Tensor;
      expect(logits.shape).toEqual(ref.logits.shape);
      Array.from(logits.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(ref.logits.values[i]!, 5));
      tf.dispose([...weights, x, logits]);
      model.dispose();
    });
  });
}
