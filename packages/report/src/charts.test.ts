import type { ResultRow } from '@headbench/results';
import { describe, expect, it } from 'vitest';
import { groupLabel, labelOf } from './charts.js';

const row = (head: string, lr: number, trainer?: string): ResultRow => ({ backbone: 'mobilenetv2', head, lr, seed: 1, ...(trainer ? { trainer } : {}) }) as ResultRow;

describe('legend labels', () => {
  it('name the trainer only when the rows differ in it; rows from before the axis are sgd', () => {
    const same = [row('gap', 0.1), row('gap', 0.01, 'sgd')];
    expect(same.map((r) => labelOf(r, same))).toEqual(['gap · lr 0.1', 'gap · lr 0.01']);
    const mixed = [row('gap', 0.1), row('gap', 0.001, 'adam:schedule=cosine')];
    expect(mixed.map((r) => labelOf(r, mixed))).toEqual(['gap · sgd · lr 0.1', 'gap · adam:schedule=cosine · lr 0.001']);
  });

  it('name the trainer of a group only when the groups differ in it', () => {
    const groups = [{ backbone: 'b', head: 'gap', lr: 0.1, trainer: 'sgd' }, { backbone: 'b', head: 'gap', lr: 0.001, trainer: 'adam' }];
    expect(groups.map((g) => groupLabel(g, groups))).toEqual(['gap · sgd · lr 0.1', 'gap · adam · lr 0.001']);
    expect(groupLabel(groups[0]!, [groups[0]!])).toBe('gap · lr 0.1');
  });
});
