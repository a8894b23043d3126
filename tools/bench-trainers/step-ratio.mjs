// The training step of each trainer against plain SGD's, as ratios measured in one process:
// one model per configuration, one compiled step per trainer on it (the same calls `headbench
// run` and `bench` make), then rounds in which every trainer times a few steps, the order
// rotating from round to round so that none always runs first. Prints each configuration's
// per-trainer medians, the ratio to sgd per round (median, lowest, highest) and the load average
// before and after, as Markdown. Weights are random (weights=none): timing does not depend on them.
//
// Usage: node tools/bench-trainers/step-ratio.mjs [--rounds 7] [--steps 5] [--trainer adam ...]
//        [--config 0.35@96 --config 1.0@224]
import os from 'node:os';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { mobilenetv2 } from '@headbench/backbones';
import { checkRecipe, composeModel, PluginRegistry, runtimeInfo, stageStepConfig, tf } from '@headbench/core';
import { median } from '@headbench/stats';
import { createTrainStep } from '@headbench/engine';
import { gap } from '@headbench/heads-gap';
import { adam, adamw, rmsprop, sgd } from '@headbench/trainers';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    steps: { type: 'string', default: '5' },
    batch: { type: 'string', default: '32' },
    trainer: { type: 'string', multiple: true, default: ['adam', 'adamw'] },
    config: { type: 'string', multiple: true, default: ['0.35@96', '1.0@224'] },
  },
});
const rounds = Number(values.rounds);
const steps = Number(values.steps);
const batch = Number(values.batch);
const classes = 5;
const registry = new PluginRegistry();
for (const factory of [sgd, adam, adamw, rmsprop]) registry.register(factory, '@headbench/trainers');
const trainers = ['sgd', ...values.trainer.filter((t) => t !== 'sgd')];
const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');

const lines = [];
const loadBefore = load();
for (const config of values.config) {
  const [alpha, size] = config.split('@').map(Number);
  const { model } = await composeModel(mobilenetv2({ alpha, weights: 'none' }), gap(), { inputSize: size, classes, seed: 1 });
  const x = tf.randomUniform([batch, size, size, 3], -1, 1, 'float32', 1);
  const y = tf.tensor1d(Int32Array.from({ length: batch }, (_, i) => i % classes), 'int32');
  const stepOf = {};
  for (const name of trainers) {
    const plugin = registry.create('trainer', name);
    const recipe = checkRecipe(plugin, plugin.recipe({ lr: 0.01, epochs: 5, stepsPerEpoch: 100 }), 5);
    const step = createTrainStep(model, stageStepConfig(recipe, recipe.stages[0], 0, 1), classes);
    for (let i = 0; i < 4; i++) await step(x, y); // compile, then warm up
    if (step.engine?.engine !== 'graph') throw new Error(`${name} ran eagerly at ${config}: ${step.engine?.reason}`);
    stepOf[name] = step;
  }
  const perRound = Object.fromEntries(trainers.map((t) => [t, []]));
  for (let r = 0; r < rounds; r++) {
    const order = trainers.map((_, i) => trainers[(i + r) % trainers.length]);
    for (const name of order) {
      const times = [];
      for (let i = 0; i < steps; i++) {
        const t0 = performance.now();
        await stepOf[name](x, y);
        times.push(performance.now() - t0);
      }
      perRound[name].push(median(times));
    }
    process.stderr.write(`alpha ${alpha} @${size}, round ${r + 1}/${rounds}: ${trainers.map((t) => `${t} ${perRound[t].at(-1).toFixed(1)} ms`).join(', ')}\n`);
  }
  for (const name of trainers) {
    const ms = median(perRound[name]);
    if (name === 'sgd') {
      lines.push(`| alpha ${alpha} @${size} | sgd | ${ms.toFixed(1)} | 1 | |`);
      continue;
    }
    const ratios = perRound[name].map((v, i) => v / perRound.sgd[i]);
    lines.push(`| alpha ${alpha} @${size} | ${name} | ${ms.toFixed(1)} | ${median(ratios).toFixed(3)}x | ${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)} |`);
  }
  Object.values(stepOf).forEach((s) => s.dispose());
  tf.dispose([x, y]);
  model.dispose();
}
const info = runtimeInfo();
console.log(`Batch ${batch}, GAP head, whole model trained; ${rounds} rounds of ${steps} steps per trainer, the order rotating; medians per round, then over rounds.`);
console.log(`${os.cpus()[0]?.model.trim()}, ${os.cpus().length} cores; tfjs-node ${info.tfjsNode}, libtensorflow ${info.libtensorflow}; load average ${loadBefore} before, ${load()} after.\n`);
console.log('| configuration | trainer | step ms | vs sgd | per round |');
console.log('|---|---|---:|---:|---:|');
for (const line of lines) console.log(line);
