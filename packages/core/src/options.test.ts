import { describe, expect, it } from 'vitest';
import { UsageError } from '@headbench/errors';
import { coerceOptionStrings, formatSpecifier, parseSpecifier, resolveOptions, type OptionsSchema } from './options.js';

const schema = {
  alpha: { type: 'number', default: 1, oneOf: [0.35, 0.5, 1], description: 'width multiplier' },
  units: { type: 'number', default: 8, min: 1, max: 64, integer: true, description: 'hidden units' },
  trainable: { type: 'boolean', default: true, description: 'train the base' },
  weights: { type: 'string', default: 'imagenet', description: 'where weights come from' },
} as const satisfies OptionsSchema;

describe('parseSpecifier', () => {
  it('reads a name and key=value options', () => {
    expect(parseSpecifier('mobilenetv2:alpha=0.5,weights=imagenet')).toEqual({ name: 'mobilenetv2', options: { alpha: '0.5', weights: 'imagenet' } });
    expect(parseSpecifier('gap')).toEqual({ name: 'gap', options: {} });
  });

  it('rejects malformed specifiers with the form to use', () => {
    expect(() => parseSpecifier('mobilenetv2:alpha')).toThrow('"alpha" is not key=value; write mobilenetv2:key=value,key=value');
    expect(() => parseSpecifier(':alpha=1')).toThrow(/names no plugin/);
    expect(() => parseSpecifier('m:alpha=1,alpha=2')).toThrow(/option alpha is given twice/);
  });
});

describe('resolveOptions', () => {
  it('fills defaults and keeps given values', () => {
    expect(resolveOptions('m', schema, { alpha: 0.5 })).toEqual({ alpha: 0.5, units: 8, trainable: true, weights: 'imagenet' });
  });

  it.each([
    [{ alfa: 1 }, 'm: unknown option "alfa"; known options: alpha, units, trainable, weights'],
    [{ alpha: 0.6 }, 'm: option alpha=0.6 is not supported; expected one of 0.35, 0.5, 1 (width multiplier)'],
    [{ units: 0 }, 'm: option units=0 is out of range; expected an integer >= 1 and <= 64 (hidden units)'],
    [{ units: 2.5 }, 'm: option units=2.5 is not an integer'],
    [{ trainable: 'yes' }, 'm: option trainable="yes" is not a boolean; expected true or false'],
  ])('rejects %j with a message naming key and allowed values', (given, message) => {
    expect(() => resolveOptions('m', schema, given)).toThrow(UsageError);
    expect(() => resolveOptions('m', schema, given)).toThrow(message);
  });
});

describe('coerceOptionStrings', () => {
  it('turns command-line strings into the declared types', () => {
    expect(coerceOptionStrings('m', schema, { alpha: '0.5', trainable: 'false', weights: 'none' })).toEqual({ alpha: 0.5, trainable: false, weights: 'none' });
  });

  it('rejects text that is not of the declared type', () => {
    expect(() => coerceOptionStrings('m', schema, { alpha: 'abc' })).toThrow('m: option alpha=abc is not a number; expected one of 0.35, 0.5, 1 (width multiplier)');
    expect(() => coerceOptionStrings('m', schema, { trainable: '1' })).toThrow('m: option trainable=1 is not a boolean');
  });
});

describe('formatSpecifier', () => {
  it('writes only non-default options', () => {
    expect(formatSpecifier('m', { alpha: 0.5, units: 8 }, { alpha: 1, units: 8 })).toBe('m:alpha=0.5');
    expect(formatSpecifier('gap', {})).toBe('gap');
  });
});
