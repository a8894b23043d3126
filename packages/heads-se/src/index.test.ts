import { describeHeadConformance } from '@headbench/testing';
import { describe, expect, it } from 'vitest';
import se from './index.js';

// The contract every head keeps (CONTRIBUTING.md, "What the kit checks"); reduction 4 gives a
// bottleneck of 2 to 8 units on the kit's maps, where the default 16 floors at 1.
describeHeadConformance(se);
describeHeadConformance(se, { options: { reduction: 4 } });

describe('se', () => {
  it('counts C / r bottleneck units, at least one', () => {
    expect(se().paramCount!([3, 3, 1280], 5)).toBe((2 * 1280 * 1280) / 16 + 1280 / 16 + 1280 + 1280 * 5 + 5);
    expect(se().paramCount!([1, 1, 8], 2)).toBe(2 * 8 * 1 + 1 + 8 + 8 * 2 + 2);
  });
});
