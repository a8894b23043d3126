import { UsageError } from './errors.js';

/** The axes of a run; the plan is their cross product. */
export interface PlanAxes {
  backbones: readonly string[];
  heads: readonly string[];
  learningRates: readonly number[];
  seeds: readonly number[];
}

/** One cell of the cross product. `id` is stable across runs and machines (for resume, shards, compare). */
export interface Combination {
  id: string;
  index: number;
  backbone: string;
  head: string;
  lr: number;
  seed: number;
}

export function combinationId(c: Pick<Combination, 'backbone' | 'head' | 'lr' | 'seed'>): string {
  return `${c.backbone}|${c.head}|lr=${c.lr}|seed=${c.seed}`;
}

/** Backbone-major order, so combinations that share a backbone (and its cached inputs) run together. */
export function plan(axes: PlanAxes): Combination[] {
  for (const [name, values] of Object.entries(axes)) {
    if (values.length === 0) throw new UsageError(`the plan has no ${name}: give at least one`);
    if (new Set(values.map(String)).size !== values.length) throw new UsageError(`${name} lists a value twice: ${values.join(', ')}`);
  }
  const out: Combination[] = [];
  for (const backbone of axes.backbones)
    for (const head of axes.heads)
      for (const lr of axes.learningRates)
        for (const seed of axes.seeds) out.push({ id: combinationId({ backbone, head, lr, seed }), index: out.length, backbone, head, lr, seed });
  return out;
}

export interface Shard {
  index: number;
  count: number;
}

/** Parses `i/n` (1-based: `1/3`, `2/3`, `3/3`). */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || index < 1 || index > count) {
    throw new UsageError(`--shard ${text}: expected i/n with 1 <= i <= n, e.g. --shard 2/4`);
  }
  return { index, count };
}

/**
 * The combinations of shard i of n: every n-th, starting at i. Round-robin spreads the expensive
 * backbones over shards; together the shards cover the plan exactly once.
 */
export function shardOf(combinations: readonly Combination[], shard: Shard): Combination[] {
  return combinations.filter((c) => c.index % shard.count === shard.index - 1);
}
