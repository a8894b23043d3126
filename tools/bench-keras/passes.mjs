#!/usr/bin/env node
// @ts-check
// The effect of each inference-graph pass (packages/engine/src/graph/fuse.ts), measured in one
// process: the same MobileNetV2 + GAP model compiled with each combination of passes, each timed
// at batch 32 and batch 1 in turn, the order reversed every round so that load from elsewhere
// hits every variant alike. docs/performance.md records the results.
//
//   npm run bench:passes                                 # alpha 0.35 @96 and 1.0 @224, 4 rounds
//   npm run bench:passes -- --configs 0.35@96 --rounds 6
import { performance } from 'node:perf_hooks';
import os from 'node:os';
import { composeModel, tf } from '@headbench/core';
import { median } from '@headbench/stats';
import { compileInference } from '@headbench/engine';
import { mobilenetv2 } from '@headbench/backbones';
import { gap } from '@headbench/heads-gap';

const args = process.argv.slice(2);
const option = (/** @type {string} */ name, /** @type {string} */ fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : (args[i + 1] ?? fallback);
};
const rounds = Number(option('rounds', '4'));
const samples = Number(option('samples', '6'));
const configs = option('configs', '0.35@96,1.0@224').split(',').map((c) => c.split('@').map(Number));

/** @type {[string, Record<string, unknown>][]} */
const variants = [
  ['no passes (BatchNorm as scale and offset, Pad ops)', { foldBatchNorm: false, mergePadding: false }],
  ['FusedBatchNormV3 left to grappler', { foldBatchNorm: false, mergePadding: false, keepFusedBatchNorm: true }],
  ['BatchNorm folded, fed', { mergePadding: false }],
  ['BatchNorm folded, fed; padding merged (the default)', {}],
  ['BatchNorm folded in graph ops; padding merged', { foldBatchNorm: 'graph' }],
  ['the default, _FusedConv2D written out', { fuseConv2D: true }],
];

const fmt = (/** @type {number} */ v) => (v >= 100 ? v.toFixed(0) : v.toFixed(v >= 10 ? 1 : 2));
const lines = [`Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus()[0]?.model.trim()}, ${os.cpus().length} cores; ImageNet weights, GAP + Dense(5); ${rounds} rounds alternating the variants' order, ${samples} samples at batch 32 and ${samples * 3} at batch 1 per variant and round; median (lowest-highest sample), ratio to no passes.`, ''];
for (const [alpha, size] of configs) {
  const { model } = await composeModel(mobilenetv2({ alpha, weights: 'imagenet' }), gap(), { inputSize: size, classes: 5, seed: 1 });
  const x = tf.randomUniform([32, size, size, 3], -1, 1, 'float32', 1);
  const x1 = x.slice([0, 0, 0, 0], [1, -1, -1, -1]);
  const compiled = [];
  for (const [name, passes] of variants) {
    const inference = await compileInference(model, passes);
    if (inference.engine !== 'graph') throw new Error(`${name}: inference ran eagerly: ${inference.reason}`);
    compiled.push({ name, inference, b32: /** @type {number[]} */ ([]), b1: /** @type {number[]} */ ([]) });
  }
  // Every variant computes the same logits.
  const reference = compiled[0]?.inference.predict(x);
  for (const c of compiled) {
    const out = c.inference.predict(x);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(out, /** @type {tf.Tensor} */ (reference)))).dataSync()[0] ?? NaN);
    if (!(diff < 1e-4)) throw new Error(`${c.name}: logits differ from no passes by ${diff}`);
    out.dispose();
  }
  reference?.dispose();
  const time = async (/** @type {import('@headbench/engine').InferenceModel} */ inference, /** @type {tf.Tensor} */ input, /** @type {number} */ n) => {
    const times = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const out = inference.predict(input);
      await out.data();
      out.dispose();
      times.push(performance.now() - t0);
    }
    return times;
  };
  for (let round = 0; round < rounds; round++) {
    process.stderr.write(`alpha ${alpha} @${size}: round ${round + 1}/${rounds}, load ${os.loadavg()[0]?.toFixed(1)}\n`);
    for (const c of round % 2 ? [...compiled].reverse() : compiled) {
      await time(c.inference, x, 1);
      c.b32.push(...(await time(c.inference, x, samples)));
      await time(c.inference, x1, 2);
      c.b1.push(...(await time(c.inference, x1, samples * 3)));
    }
  }
  const base = compiled[0];
  lines.push(`alpha ${alpha} @${size} (load average at the end ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}):`, '', '| inference graph | batch 32 ms | ratio | batch 1 ms | ratio |', '|---|---:|---:|---:|---:|');
  for (const c of compiled) {
    const cellOf = (/** @type {number[]} */ v) => `${fmt(median(v))} (${fmt(Math.min(...v))}-${fmt(Math.max(...v))})`;
    lines.push(`| ${c.name} | ${cellOf(c.b32)} | ${(median(c.b32) / median(base?.b32 ?? [])).toFixed(2)}x | ${cellOf(c.b1)} | ${(median(c.b1) / median(base?.b1 ?? [])).toFixed(2)}x |`);
    c.inference.dispose();
  }
  lines.push('');
  tf.dispose([x, x1]);
  model.dispose();
}
process.stdout.write(`${lines.join('\n')}\n`);
