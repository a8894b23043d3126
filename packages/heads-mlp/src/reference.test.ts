import { readFileSync } from 'node:fs';
import { tf } from '@headbench/core';
import { describe, expect, it } from 'vitest';
import head from './index.js';

// tools/keras-reference/make_head_fixtures.py: the head's forward pass in NumPy, from the paper.
// The fixture lists the weights in the order the built model holds them.
interface Named { shape: number[]; values: number[] }
const ref = JSON.parse(readFileSync(new URL('../fixtures/reference.json', import.meta.url), 'utf8')) as {
  head: string; options: Record<string, number>; featureShape: [number, number, number]; classes: number; input: Named; weights: Record<string, Named>; logits: Named;
};

describe(`${ref.head} against NumPy`, () => {
  it(`gives the reference logits with ${JSON.stringify(ref.options)}`, () => {
    const { featureShape, classes } = ref;
    const input = tf.input({ shape: [...featureShape] });
    const model = tf.model({ inputs: input, outputs: head(ref.options).build(input, { classes, featureShape, seed: 1 }) });
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
