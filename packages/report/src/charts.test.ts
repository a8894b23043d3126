import type { ResultRow } from '@headbench/core';
import { describe, expect, it } from 'vitest';
import { labelOf } from './charts.js';

const row = (head: string, lr: number, trainer?: string): ResultRow => ({ backbone: 'mobilenetv2', head, lr, seed: 1, ...(trainer ? { trainer } : {}) }) as ResultRow;

describe('legend labels', () => {
  it('name the trainer only when the rows differ in it; rows from before the axis are sgd', () => {
    const same = [row('gap', 0.1), row('gap', 0.01, 'sgd')];
    expect(same.map((r) => labelOf(r, same))).toEqual(['gap · lr 0.1', 'gap · lr 0.01']);
    const mixed = [row('gap', 0.1), row('gap', 0.001, 'adam:schedule=cosine')];
    expect(mixed.map((r) => labelOf(r, mixed))).toEqual(['gap · sgd · lr 0.1', 'gap · adam:schedule=cosine · lr 0.001']);
  });
});
