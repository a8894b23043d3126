import {
  achievedGflops,
  benchModel,
  cpuPeak,
  composeModel,
  headOnly,
  type CpuPeak,
} from '@headbench/core';
import {
  describeOneDnn,
  environment,
  formatTable,
  type Column,
  type Environment,
  type Format,
  type ModelBench,
  type ParamCounts,
} from '@headbench/results';
import { multiplyAdds } from '@headbench/engine';
import { DEFAULTS, loadConfig, loadPlugins } from '../config.js';
import { canonical, trainersOf, unique, withoutWeights } from '../specifiers.js';

export interface BenchRow extends ModelBench {
  backbone: string;
  head: string;
  trainer: string;
  inputSize: number;
  batchSize: number;
  classes: number;
  params: ParamCounts;
  /** Multiply-adds of one image's forward pass. */
  multiplyAdds: number;
  /**
   * Achieved GFLOP/s at the median time: 2 FLOPs per multiply-add; a training step counted as 3
   * forward passes (forward, input gradient, weight gradient), inference as 1.
   */
  gflops: { train: number; inference: number; inferenceSingle: number };
  /** The same as shares of the CPU's estimated peak (`peak` in the output), where it could be estimated. */
  peakShare?: { train: number; inference: number; inferenceSingle: number };
}

export interface BenchOptions {
  backbone?: string[];
  head?: string[];
  trainer?: string[];
  inputSize?: number;
  batchSize: number;
  classes: number;
  lr: number;
  /** Epochs the trainers' recipes are made for (their schedules and stages). */
  epochs: number;
  seed: number;
  minSamples: number;
  minTime: number;
  format: Format;
  quiet?: boolean;
  config?: string;
  plugin?: string[];
}

const ms = (v: number) => Number(v.toFixed(1));

export const BENCH_COLUMNS: readonly Column<BenchRow>[] = [
  { key: 'backbone', title: 'backbone', value: (r) => r.backbone },
  { key: 'head', title: 'head', value: (r) => r.head },
  { key: 'trainer', title: 'trainer', value: (r) => (r.stage ? `${r.trainer} (stage ${r.stage.index}/${r.stage.of}${r.stage.train === 'head' ? ', head only' : ''})` : r.trainer) },
  { key: 'inputSize', title: 'input', value: (r) => r.inputSize },
  { key: 'batchSize', title: 'batch', value: (r) => r.batchSize },
  { key: 'params', title: 'params', value: (r) => r.params.total },
  { key: 'headParams', title: 'head params', value: (r) => r.params.head },
  { key: 'mmacs', title: 'MMACs/image', value: (r) => Math.round(r.multiplyAdds / 1e6) },
  { key: 'trainColdMs', title: 'train cold ms', value: (r) => Math.round(r.train.coldMs) },
  { key: 'trainP50Ms', title: 'train p50 ms', value: (r) => ms(r.train.latency.p50) },
  { key: 'trainP99Ms', title: 'train p99 ms', value: (r) => ms(r.train.latency.p99) },
  { key: 'trainRme', title: 'train ±%', value: (r) => ms(r.train.latency.rme) },
  { key: 'headTrainP50Ms', title: 'head train p50 ms', value: (r) => (r.headTrain ? ms(r.headTrain.latency.p50) : 'n/a') },
  { key: 'inferP50Ms', title: 'infer p50 ms', value: (r) => ms(r.inference.latency.p50) },
  { key: 'infer1P50Ms', title: 'infer@1 p50 ms', value: (r) => ms(r.inferenceSingle.latency.p50) },
  { key: 'trainEngine', title: 'train via', value: (r) => r.trainEngine.engine },
  { key: 'inferEngine', title: 'infer via', value: (r) => r.inferenceEngine.engine },
  { key: 'trainImagesPerSecond', title: 'train img/s', value: (r) => ms(r.imagesPerSecond.train) },
  { key: 'inferImagesPerSecond', title: 'infer img/s', value: (r) => ms(r.imagesPerSecond.inference) },
  { key: 'trainGflops', title: 'train GFLOP/s', value: (r) => ms(r.gflops.train) },
  { key: 'trainPeakPct', title: 'train % peak', value: (r) => (r.peakShare ? ms(100 * r.peakShare.train) : 'n/a') },
  { key: 'inferGflops', title: 'infer GFLOP/s', value: (r) => ms(r.gflops.inference) },
  { key: 'inferPeakPct', title: 'infer % peak', value: (r) => (r.peakShare ? ms(100 * r.peakShare.inference) : 'n/a') },
  { key: 'tensors', title: 'tensors before→after', value: (r) => `${r.train.tensors.before}→${r.train.tensors.after}` },
  { key: 'leak', title: 'leak/step', value: (r) => r.train.tensors.leakedPerCall },
  { key: 'peakRssMB', title: 'peak RSS MB', value: (r) => Math.round(r.peakRssMB) },
];

/** Times every backbone x head on seeded random input: no dataset, no weights files. */
/** GFLOP/s of a timed row (see BenchRow.gflops) and their shares of `peak`. */
export function throughput(timing: ModelBench, multiplyAdds: number, batchSize: number, peak: CpuPeak): Pick<BenchRow, 'gflops' | 'peakShare'> {
  const gflops = {
    train: achievedGflops(multiplyAdds, batchSize, timing.train.latency.p50, 3),
    inference: achievedGflops(multiplyAdds, batchSize, timing.inference.latency.p50),
    inferenceSingle: achievedGflops(multiplyAdds, 1, timing.inferenceSingle.latency.p50),
  };
  const top = peak.gflops;
  return top ? { gflops, peakShare: { train: gflops.train / top, inference: gflops.inference / top, inferenceSingle: gflops.inferenceSingle / top } } : { gflops };
}

export async function runBench(options: BenchOptions, cwd: string, log: (line: string) => void): Promise<{ environment: Environment; peak: CpuPeak; rows: BenchRow[]; text: string }> {
  const loaded = await loadConfig(cwd, options.config);
  const registry = await loadPlugins(loaded, options.plugin ?? [], cwd);
  const { config } = loaded;
  const inputSize = options.inputSize ?? config.inputSize ?? DEFAULTS.inputSize;
  const backbones = unique('backbones', (options.backbone ?? config.backbones ?? DEFAULTS.backbones).map((s) => withoutWeights(registry, s)));
  const heads = unique('heads', (options.head ?? config.heads ?? DEFAULTS.heads).map((s) => {
    const plugin = registry.create('head', s);
    return { label: canonical(registry, 'head', plugin), plugin };
  }));
  for (const { plugin } of backbones) plugin.featureShape(inputSize);
  const trainers = trainersOf(registry, options.trainer ?? config.trainers?.map((t) => (typeof t === 'string' ? t : t.trainer)) ?? ['sgd']);

  const peak = cpuPeak();
  const rows: BenchRow[] = [];
  const total = backbones.length * heads.length * trainers.length;
  for (const backbone of backbones) {
    for (const head of heads) {
      for (const trainer of trainers) {
        const which = `${rows.length + 1}/${total} ${backbone.label} + ${head.label}, ${trainer.label}`;
        const composed = await composeModel(backbone.plugin, head.plugin, { inputSize, classes: options.classes, seed: options.seed });
        // The head alone on the backbone's feature shape: its own step time beside the whole model's.
        const alone = headOnly(composed.model, composed.backboneLayers, head.plugin, { classes: options.classes, featureShape: composed.featureShape, seed: options.seed });
        try {
          const timing = await benchModel(composed.model, {
            head: { model: alone.model, featureShape: composed.featureShape },
            inputSize,
            classes: options.classes,
            batchSize: options.batchSize,
            lr: options.lr,
            seed: options.seed,
            // Steps per epoch only shape the schedule; a nominal 100 does for timing.
            trainer: { plugin: trainer.plugin, epochs: options.epochs, stepsPerEpoch: 100, backboneLayers: composed.backboneLayers },
            minSamples: options.minSamples,
            minTimeMs: options.minTime,
            onTask: (task) => log(`${which}: timing ${task}`),
          });
          if (timing.trainEngine.reason) log(`${which}: the training step ran eagerly: ${timing.trainEngine.reason}`);
          if (timing.inferenceEngine.reason) log(`${which}: inference ran eagerly: ${timing.inferenceEngine.reason}`);
          const macs = multiplyAdds(composed.model);
          rows.push({ backbone: backbone.label, head: head.label, trainer: trainer.label, inputSize, batchSize: options.batchSize, classes: options.classes, params: composed.params, multiplyAdds: macs, ...timing, ...throughput(timing, macs, options.batchSize, peak) });
        } finally {
          alone.dispose();
          composed.model.dispose();
        }
      }
    }
  }
  const env = environment();
  const text =
    options.format === 'json'
      ? `${JSON.stringify({ environment: env, peak, rows }, null, 2)}\n`
      : formatTable(rows, BENCH_COLUMNS, options.format) +
        (options.format === 'md' ? `\n${env.cpu}, ${env.cores} cores, threads ${env.threads.intraOp}/${env.threads.interOp}; Node ${env.node}, tfjs-node ${env.tfjsNode}, libtensorflow ${env.libtensorflow}, graphs and fused kernels ${env.accelerated ? 'on' : 'off'}; ${describeOneDnn(env.onednn)}${env.kernelFixes?.length ? `; replaced kernels: ${env.kernelFixes.join('; ')}` : ''}\n` +
            `GFLOP/s: 2 per multiply-add at the median time, a training step as 3 forward passes; estimated peak: ${peak.formula}\n`
          : '');
  return { environment: env, peak, rows, text };
}
