import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeCorrect, deriveSeed, encodeCorrect, seededRandom, type ResultRow, type RunResults } from '../upstream.js';

/**
 * A real 3-seed run (`headbench run --head gap --head flatten --head gmp --lr 0.01 --seed 1
 * --seed 2 --seed 3 --epochs 2 --input-size 96 --test-split 0.2` on flowers-mini, AMD EPYC, AVX2,
 * 2 cores, shared), the starting point of generated histories. Read from the source tree, so it
 * works from src/ and dist/ alike.
 */
export const THREE_SEEDS = fileURLToPath(new URL('../../src/testing/fixtures/three-seeds.json', import.meta.url));

export function threeSeeds(): RunResults {
  return JSON.parse(fs.readFileSync(THREE_SEEDS, 'utf8')) as RunResults;
}

export interface NightsOptions {
  nights: number;
  /** The generator's seed: the same options give the same nights. */
  seed?: number;
  /** Per night, each image of each row changes its answer with this probability (keeping the expected accuracy); default 0.03. */
  flip?: number;
  /** Per row and night, the step and inference times vary by this log-normal sd (default 0.03)... */
  timingNoise?: number;
  /** ...and every row of a night by this one more (the night's runner; default 0.04). */
  runnerNoise?: number;
  /** From night `from` (1-based) on, `head` gets `points` fewer images right: the same images, right before in every seed, wrong after. */
  drop?: { head: string; from: number; points: number };
  /** From night `from` on, `head`'s training step takes `factor` times as long. */
  slowdown?: { head: string; from: number; factor: number };
}

export interface GeneratedNight {
  results: RunResults;
  commit: string;
  time: string;
}

/** A standard normal from a seeded uniform (Box-Muller). */
function normal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

const ones = (v: Uint8Array) => v.reduce((s, x) => s + x, 0);

/**
 * Nights built from a real results file: each night every row's per-image answers change a
 * little (right to wrong with probability `flip`, wrong to right so that the expected accuracy
 * stays), its timings get the row's and the night's noise, and the planted changes apply from
 * their night on. Accuracies are recomputed from the per-image answers, so they agree.
 */
export function generateNights(base: RunResults, options: NightsOptions): GeneratedNight[] {
  const flip = options.flip ?? 0.03;
  const timingNoise = options.timingNoise ?? 0.03;
  const runnerNoise = options.runnerNoise ?? 0.04;
  const random = seededRandom(deriveSeed(options.seed ?? 1, 'nights'));
  // The images a drop takes: right in every seed of the head in the base run.
  const dropped = new Map<'val' | 'test', number[]>();
  if (options.drop) {
    const rows = base.rows.filter((r) => r.head === options.drop!.head);
    for (const split of ['val', 'test'] as const) {
      const vectors = rows.map((r) => decodeCorrect(r.perImage![split]!));
      const always = Array.from(vectors[0]!.keys()).filter((i) => vectors.every((v) => v[i] === 1));
      const want = Math.round((options.drop.points / 100) * vectors[0]!.length);
      const pick = seededRandom(deriveSeed(options.seed ?? 1, `drop ${split}`));
      dropped.set(split, always.sort(() => pick() - 0.5).slice(0, want));
    }
  }
  const start = Date.parse('2026-01-01T02:00:00Z');
  return Array.from({ length: options.nights }, (_, n) => {
    const night = n + 1;
    const time = new Date(start + n * 86_400_000).toISOString();
    const runner = Math.exp(normal(random) * runnerNoise);
    const rows = base.rows.map((row): ResultRow => {
      if (row.status !== 'ok' || !row.perImage) return row;
      const perImage: NonNullable<ResultRow['perImage']> = {};
      const accuracy: Partial<Record<'val' | 'test', number>> = {};
      for (const split of ['val', 'test'] as const) {
        const record = row.perImage[split];
        if (!record) continue;
        const v = decodeCorrect(record);
        const p = ones(v) / v.length;
        const back = p < 1 ? (flip * p) / (1 - p) : 0;
        for (let i = 0; i < v.length; i++) if (random() < (v[i] ? flip : back)) v[i] = 1 - v[i]!;
        if (options.drop && row.head === options.drop.head && night >= options.drop.from) for (const i of dropped.get(split)!) v[i] = 0;
        perImage[split] = { ...record, correct: encodeCorrect(v) };
        accuracy[split] = ones(v) / v.length;
      }
      const slow = options.slowdown && row.head === options.slowdown.head && night >= options.slowdown.from ? options.slowdown.factor : 1;
      const stepFactor = runner * Math.exp(normal(random) * timingNoise) * slow;
      const inferenceFactor = runner * Math.exp(normal(random) * timingNoise);
      return {
        ...row,
        finishedAt: time,
        perImage,
        finalValAccuracy: accuracy.val ?? row.finalValAccuracy,
        bestValAccuracy: Math.max(accuracy.val ?? 0, ...row.history.slice(0, -1).map((h) => h.valAccuracy ?? 0)),
        ...(accuracy.test !== undefined ? { testAccuracy: accuracy.test } : {}),
        ...(row.stepTime ? { stepTime: { ...row.stepTime, medianMs: row.stepTime.medianMs * stepFactor, p90Ms: row.stepTime.p90Ms * stepFactor, samplesMs: row.stepTime.samplesMs.map((s) => s * stepFactor) } } : {}),
        ...(row.bench ? { bench: { ...row.bench, inference: { ...row.bench.inference, latency: { ...row.bench.inference.latency, p50: row.bench.inference.latency.p50 * inferenceFactor } } } } : {}),
      };
    });
    const { groups: _g, comparisons: _c, comparisonsSkipped: _s, ...rest } = base;
    const results: RunResults = { ...rest, createdAt: time, updatedAt: time, runs: (base.runs ?? []).map((r) => ({ ...r, startedAt: time })), rows };
    return { results, commit: `c${String(night).padStart(3, '0')}`, time };
  });
}
