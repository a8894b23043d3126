import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { countParams, tf, UsageError, type FeatureShape } from '@headbench/core';
import gapDefault, { gap } from './index.js';

// Keras' own counts (tools/keras-reference): MobileNetV2 feature maps into GAP/Flatten + Dense.
interface HeadRow { head: string; alpha: number; size: number; classes: number; headParams: number }
interface BaseRow { alpha: number; size: number; output: [number, number, number] }
const fixture = JSON.parse(readFileSync(new URL('../../backbones/fixtures/keras/params.json', import.meta.url), 'utf8')) as { base: BaseRow[]; heads: HeadRow[] };

function headOnly(featureShape: FeatureShape, classes: number, seed = 1) {
  const input = tf.input({ shape: [...featureShape] });
  const logits = gap().build(input, { classes, featureShape, seed });
  return tf.model({ inputs: input, outputs: logits });
}

// Output shapes, seeding, tensor leaks, two heads in one model and save/load are the
// conformance kit's (conformance.test.ts); these are what it cannot know: Keras' own counts.
describe('gap head', () => {
  it('is a head plugin named gap, with no options', () => {
    expect(gapDefault).toBe(gap);
    expect(gap().meta).toMatchObject({ name: 'gap', kind: 'head', version: '0.1.0' });
    expect(gap().options).toEqual({});
    expect(() => gap({ units: 3 } as never)).toThrow(UsageError);
    expect(() => gap({ units: 3 } as never)).toThrow('gap: unknown option "units"; it takes no options');
  });


  it('has F*C + C parameters, as Keras counts them for every MobileNetV2 feature map', () => {
    const rows = fixture.heads.filter((r) => r.head === 'gap');
    const checked = new Set<string>();
    for (const row of rows) {
      const base = fixture.base.find((b) => b.alpha === row.alpha && b.size === row.size);
      if (!base) throw new Error(`params.json has no base row for alpha ${row.alpha} size ${row.size}`);
      const key = `${base.output.join('x')}/${row.classes}`;
      if (checked.has(key)) continue;
      checked.add(key);
      const model = headOnly(base.output, row.classes);
      const [, , f] = base.output;
      expect({ key, params: countParams(model).total }).toEqual({ key, params: row.headParams });
      expect(row.headParams).toBe(f * row.classes + row.classes);
      model.dispose();
    }
    expect(checked.size).toBeGreaterThanOrEqual(12);
    for (const [shape, classes] of [[[2, 2, 17], 4], [[9, 9, 3], 7]] as const) {
      const model = headOnly(shape, classes);
      expect(countParams(model)).toEqual({ total: shape[2] * classes + classes, trainable: shape[2] * classes + classes, nonTrainable: 0, head: 0 });
      model.dispose();
    }
  });
});
