import { describe, expect, it } from 'vitest';
import { parseShard, plan, shardOf } from './planner.js';

const axes = { backbones: ['a', 'b'], heads: ['gap', 'flatten'], learningRates: [0.1, 0.01], seeds: [1, 2, 3] };

describe('plan', () => {
  it('is the full cross product, backbone-major, with stable ids', () => {
    const combos = plan(axes);
    expect(combos).toHaveLength(2 * 2 * 2 * 3);
    expect(combos[0]).toEqual({ id: 'a|gap|lr=0.1|seed=1', index: 0, backbone: 'a', head: 'gap', trainer: 'sgd', lr: 0.1, seed: 1 });
    expect(combos.slice(0, 12).every((c) => c.backbone === 'a')).toBe(true);
    expect(new Set(combos.map((c) => c.id)).size).toBe(combos.length);
  });

  it('has a trainer axis; only trainers other than the default sgd add to the ids, so results from before keep theirs', () => {
    const combos = plan({ ...axes, backbones: ['a'], heads: ['gap'], trainers: ['sgd', 'adam:schedule=cosine'], seeds: [1] });
    expect(combos.map((c) => c.id)).toEqual(['a|gap|lr=0.1|seed=1', 'a|gap|lr=0.01|seed=1', 'a|gap|lr=0.1|seed=1|trainer=adam:schedule=cosine', 'a|gap|lr=0.01|seed=1|trainer=adam:schedule=cosine']);
  });

  it('gives a trainer its own learning rates where it has them', () => {
    const combos = plan({ ...axes, backbones: ['a'], heads: ['gap'], trainers: [{ trainer: 'sgd', learningRates: [0.1] }, { trainer: 'adam', learningRates: [1e-3, 1e-4] }], seeds: [1] });
    expect(combos.map((c) => `${c.trainer}@${c.lr}`)).toEqual(['sgd@0.1', 'adam@0.001', 'adam@0.0001']);
    expect(() => plan({ ...axes, trainers: [{ trainer: 'adam', learningRates: [] }] })).toThrow('the plan has no learning rates of adam: give at least one');
    expect(() => plan({ ...axes, trainers: ['sgd', 'sgd'] })).toThrow('trainers lists a value twice: sgd, sgd');
  });

  it('rejects an empty or repeated axis', () => {
    expect(() => plan({ ...axes, heads: [] })).toThrow('the plan has no heads: give at least one');
    expect(() => plan({ ...axes, seeds: [1, 1] })).toThrow('seeds lists a value twice: 1, 1');
  });
});

describe('shards', () => {
  it('cover the plan exactly once, deterministically, and spread each backbone', () => {
    const combos = plan(axes);
    const shards = [1, 2, 3, 4, 5].map((i) => shardOf(combos, parseShard(`${i}/5`)));
    const ids = shards.flat().map((c) => c.id).sort();
    expect(ids).toEqual(combos.map((c) => c.id).sort());
    expect(shards.map((s) => s.length)).toEqual([5, 5, 5, 5, 4]);
    expect(shardOf(plan(axes), parseShard('2/5'))).toEqual(shards[1]);
    for (const s of shards.slice(0, 4)) expect(new Set(s.map((c) => c.backbone)).size).toBe(2);
  });

  it.each(['0/3', '4/3', '1/0', '2', 'a/b'])('rejects --shard %s', (text) => {
    expect(() => parseShard(text)).toThrow(/expected i\/n with 1 <= i <= n/);
  });
});
