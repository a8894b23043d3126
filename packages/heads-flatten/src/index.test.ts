import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { countParams, tf, UsageError, type FeatureShape } from '@headbench/core';
import flattenDefault, { flatten } from './index.js';

// Keras' own counts (tools/keras-reference): MobileNetV2 feature maps into GAP/Flatten + Dense.
interface HeadRow { head: string; alpha: number; size: number; classes: number; headParams: number }
interface BaseRow { alpha: number; size: number; output: [number, number, number] }
const fixture = JSON.parse(readFileSync(new URL('../../backbones/fixtures/keras/params.json', import.meta.url), 'utf8')) as { base: BaseRow[]; heads: HeadRow[] };

function headOnly(featureShape: FeatureShape, classes: number, seed = 1) {
  const input = tf.input({ shape: [...featureShape] });
  const logits = flatten().build(input, { classes, featureShape, seed });
  return tf.model({ inputs: input, outputs: logits });
}

// Output shapes, seeding, tensor leaks, two heads in one model and save/load are the
// conformance kit's (conformance.test.ts); these are what it cannot know: Keras' own counts.
describe('flatten head', () => {
  it('is a head plugin named flatten, with no options', () => {
    expect(flattenDefault).toBe(flatten);
    expect(flatten().meta).toMatchObject({ name: 'flatten', kind: 'head', version: '0.1.0' });
    expect(flatten().options).toEqual({});
    expect(() => flatten({ units: 3 } as never)).toThrow(UsageError);
    expect(() => flatten({ units: 3 } as never)).toThrow('flatten: unknown option "units"; it takes no options');
  });


  it('has H*W*F*C + C parameters, as Keras counts them for every MobileNetV2 feature map', () => {
    const rows = fixture.heads.filter((r) => r.head === 'flatten');
    const checked = new Set<string>();
    for (const row of rows) {
      const base = fixture.base.find((b) => b.alpha === row.alpha && b.size === row.size);
      if (!base) throw new Error(`params.json has no base row for alpha ${row.alpha} size ${row.size}`);
      const key = `${base.output.join('x')}/${row.classes}`;
      if (checked.has(key)) continue;
      checked.add(key);
      const model = headOnly(base.output, row.classes);
      const [h, w, f] = base.output;
      expect({ key, params: countParams(model).total }).toEqual({ key, params: row.headParams });
      expect(row.headParams).toBe(h * w * f * row.classes + row.classes);
      model.dispose();
    }
    expect(checked.size).toBeGreaterThanOrEqual(12);
    // The figures the experiment is known by: 7x7x1280 and 3x3x1280 into 5 classes.
    expect([checked.has('7x7x1280/5'), checked.has('3x3x1280/5')]).toEqual([true, true]);
    expect(fixture.heads.find((r) => r.head === 'flatten' && r.size === 224 && r.classes === 5)?.headParams).toBe(313_605);
    expect(fixture.heads.find((r) => r.head === 'flatten' && r.size === 96 && r.classes === 5)?.headParams).toBe(57_605);
    for (const [shape, classes] of [[[2, 2, 17], 4], [[9, 9, 3], 7], [[5, 4, 8], 3]] as const) {
      const expected = shape[0] * shape[1] * shape[2] * classes + classes;
      const model = headOnly(shape, classes);
      expect(countParams(model)).toEqual({ total: expected, trainable: expected, nonTrainable: 0, head: 0 });
      model.dispose();
    }
  });
});
