import { readFileSync } from 'node:fs';
import { tf } from '@headbench/core';
import { describe, expect, it } from 'vitest';
import avgmax from './index.js';

// tools/keras-reference/make_head_fixtures.py: NumPy's concat([mean, max]) @ kernel + bias.
interface Named { shape: number[]; values: number[] }
const ref = JSON.parse(readFileSync(new URL('../fixtures/reference.json', import.meta.url), 'utf8')) as {
  featureShape: [number, number, number]; classes: number; input: Named; weights: Record<string, Named>; logits: Named;
};
const tensor = ({ shape, values }: Named) => tf.tensor(values, shape);

describe('avgmax against NumPy', () => {
  it('gives the logits of one Dense on the concatenated mean and maximum', () => {
    const { featureShape, classes } = ref;
    const channels = featureShape[2];
    const input = tf.input({ shape: [...featureShape] });
    const model = tf.model({ inputs: input, outputs: avgmax().build(input, { classes, featureShape, seed: 1 }) });
    const kernel = tensor(ref.weights['kernel']!);
    const [fromMean, fromMax] = tf.split(kernel, [channels, channels], 0);
    model.layers.find((l) => l.getWeights().length === 2)!.setWeights([fromMean!, tensor(ref.weights['bias']!)]);
    model.layers.find((l) => l.getClassName() === 'Dense' && l.getWeights().length === 1)!.setWeights([fromMax!]);
    const logits = model.predict(tensor(ref.input)) as tf.Tensor;
    expect(logits.shape).toEqual(ref.logits.shape);
    const got = Array.from(logits.dataSync());
    got.forEach((v, i) => expect(v).toBeCloseTo(ref.logits.values[i]!, 5));
    tf.dispose([logits, kernel, fromMean!, fromMax!]);
    model.dispose();
  });
});
