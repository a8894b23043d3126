import { describe, expect, it } from 'vitest';
import { parseSize } from './size.js';

describe('parseSize', () => {
  it('reads decimal and binary units, any case, with or without a space', () => {
    expect(['2GB', '2 gb', '1.5GiB', '512MB', '64kB', '3KiB', '0', '1000', '2tb'].map((t) => parseSize(t))).toEqual([2e9, 2e9, 1.5 * 2 ** 30, 512e6, 64e3, 3072, 0, 1000, 2e12]);
  });

  it('refuses what is not a size, naming the option', () => {
    for (const text of ['lots', '-1GB', '2 GBs', '', '1e9']) expect(() => parseSize(text, '--memory-budget')).toThrow(`--memory-budget "${text}" is not a size; write it like 2GB, 512MB or 1.5GiB`);
  });
});
