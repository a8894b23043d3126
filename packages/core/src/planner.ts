import { UsageError } from '@headbench/errors';
import { DEFAULT_TRAINER } from '@headbench/results';

/**
 * A trainer of the plan, with the learning rates it trains at when they are its own: SGD and
 * Adam suit rates 100 times apart, so a comparison of the two gives each its own.
 */
export interface TrainerAxis {
  trainer: string;
  learningRates: readonly number[];
}

/** The axes of a run; the plan is their cross product. */
export interface PlanAxes {
  backbones: readonly string[];
  heads: readonly string[];
  /**
   * Trainer specifiers, canonical (`adam:schedule=cosine`), each at every learning rate of
   * `learningRates` or at its own; default `sgd`.
   */
  trainers?: readonly (string | TrainerAxis)[];
  learningRates: readonly number[];
  seeds: readonly number[];
}

/** One cell of the cross product. `id` is stable across runs and machines (for resume, shards, compare). */
export interface Combination {
  id: string;
  index: number;
  backbone: string;
  head: string;
  trainer: string;
  lr: number;
  seed: number;
}

/**
 * `backbone|head|lr=...|seed=...`, and `|trainer=...` for any trainer but the default, so that
 * results from before the trainer axis (all plain SGD) keep their ids.
 */
export function combinationId(c: Pick<Combination, 'backbone' | 'head' | 'lr' | 'seed'> & { trainer?: string }): string {
  const trainer = c.trainer === undefined || c.trainer === DEFAULT_TRAINER ? '' : `|trainer=${c.trainer}`;
  return `${c.backbone}|${c.head}|lr=${c.lr}|seed=${c.seed}${trainer}`;
}

/** Backbone-major order, so combinations that share a backbone (and its cached inputs) run together. */
export function plan(axes: PlanAxes): Combination[] {
  const given = axes.trainers ?? [DEFAULT_TRAINER];
  const trainers = given.map((t) => (typeof t === 'string' ? { trainer: t, learningRates: axes.learningRates } : t));
  const lists: [string, readonly unknown[]][] = [
    ['backbones', axes.backbones],
    ['heads', axes.heads],
    ['trainers', trainers.map((t) => t.trainer)],
    ...(given.some((t) => typeof t === 'string') ? [['learningRates', axes.learningRates] as [string, readonly unknown[]]] : []),
    ...given.filter((t) => typeof t !== 'string').map((t) => [`learning rates of ${t.trainer}`, t.learningRates] as [string, readonly unknown[]]),
    ['seeds', axes.seeds],
  ];
  for (const [name, values] of lists) {
    if (values.length === 0) throw new UsageError(`the plan has no ${name}: give at least one`);
    if (new Set(values.map(String)).size !== values.length) throw new UsageError(`${name} lists a value twice: ${values.join(', ')}`);
  }
  const out: Combination[] = [];
  for (const backbone of axes.backbones)
    for (const head of axes.heads)
      for (const { trainer, learningRates } of trainers)
        for (const lr of learningRates)
          for (const seed of axes.seeds) out.push({ id: combinationId({ backbone, head, trainer, lr, seed }), index: out.length, backbone, head, trainer, lr, seed });
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
