import type { RunResults } from './results.js';

/** One entry of github-action-benchmark's `customSmallerIsBetter` / `customBiggerIsBetter` JSON. */
export interface GabEntry {
  name: string;
  unit: string;
  value: number;
  range?: string;
  extra?: string;
}

/**
 * Results as github-action-benchmark's custom tools read them, so teams that already chart
 * benchmarks with that action get headbench's history without glue code: step times and
 * inference latencies (smaller is better), accuracies and throughput (bigger is better).
 */
export function toGab(results: RunResults): { smallerIsBetter: GabEntry[]; biggerIsBetter: GabEntry[] } {
  const smaller: GabEntry[] = [];
  const bigger: GabEntry[] = [];
  const env = results.environment;
  const extra = `${env.cpu}, ${env.cores} cores, tfjs-node ${env.tfjsNode}, libtensorflow ${env.libtensorflow}`;
  for (const r of results.rows) {
    if (r.status !== 'ok') continue;
    const name = r.id;
    if (r.stepTime && r.stepTime.samples > 0) {
      const spread = (r.stepTime.p90Ms - r.stepTime.medianMs).toFixed(1);
      smaller.push({ name: `${name} train step (median)`, unit: 'ms', value: round(r.stepTime.medianMs), range: `+${spread} (p90)`, extra: `${r.stepTime.samples} steps; ${extra}` });
    }
    if (r.bench) {
      const b = r.bench;
      smaller.push({ name: `${name} inference batch ${r.batchSize} (p50)`, unit: 'ms', value: round(b.inference.latency.p50), range: `±${b.inference.latency.rme.toFixed(1)}%`, extra });
      smaller.push({ name: `${name} inference batch 1 (p50)`, unit: 'ms', value: round(b.inferenceSingle.latency.p50), range: `±${b.inferenceSingle.latency.rme.toFixed(1)}%`, extra });
      bigger.push({ name: `${name} training throughput`, unit: 'images/s', value: round(b.imagesPerSecond.train), extra });
    }
    if (r.finalValAccuracy !== null) bigger.push({ name: `${name} final val accuracy`, unit: 'accuracy', value: round(r.finalValAccuracy, 4), extra: `${r.valImages} val images, ${r.epochs} epochs` });
    if (r.bestValAccuracy !== null) bigger.push({ name: `${name} best val accuracy`, unit: 'accuracy', value: round(r.bestValAccuracy, 4) });
  }
  return { smallerIsBetter: smaller, biggerIsBetter: bigger };
}

function round(v: number, digits = 2): number {
  return Number(v.toFixed(digits));
}
