// Traced heads against gap, in one process: the training step of a MobileNetV2 with the gap head
// (GlobalAveragePooling2D, hand-written translation), and with two heads whose pooling is a custom
// tf.layers.Layer written with tfjs ops and no translation of its own (GeM with a learnable p,
// softmax attention pooling; packages/engine/src/graph/trace.fixtures.ts), which the engine traces
// into the graph (packages/engine/src/graph/trace.ts), and the same two run eagerly
// (HEADBENCH_ACCELERATE off while their step compiles), as they ran before tracing. Rounds rotate
// the order so that none always runs first; prints each step's median over rounds (of per-round
// medians), its range, and the ratio to gap per round (median, lowest, highest), with the load
// average before and after. Weights are random (weights=none): timing does not depend on them.
//
// With --heads, the built-in heads named instead of the two fixtures, each on the graph and eagerly
// (the step every head took before the engine traced custom layers), against gap on the graph.
//
// Usage: node tools/bench-traced/step-ratio.mjs [--rounds 7] [--steps 5] [--batch 32] [--config 0.35@96]
//        [--no-eager] [--heads avgmax,mlp,gdconv,se,gem,lse,attention,bilinear]
import os from 'node:os';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { mobilenetv2 } from '@headbench/backbones';
import { checkRecipe, composeModel, defineHead, PluginRegistry, runtimeInfo, stageStepConfig, tf } from '@headbench/core';
import { median } from '@headbench/stats';
import { createTrainStep, setAcceleration } from '@headbench/engine';
import { gap } from '@headbench/heads-gap';
import { attention } from '@headbench/heads-attention';
import { avgmax } from '@headbench/heads-avgmax';
import { bilinear } from '@headbench/heads-bilinear';
import { flatten } from '@headbench/heads-flatten';
import { gdconv } from '@headbench/heads-gdconv';
import { gem } from '@headbench/heads-gem';
import { gmp } from '@headbench/heads-gmp';
import { lse } from '@headbench/heads-lse';
import { mlp } from '@headbench/heads-mlp';
import { se } from '@headbench/heads-se';
import { sgd } from '@headbench/trainers';
import { AttentionPooling, GeMPooling } from '../../packages/engine/dist/graph/trace.fixtures.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    steps: { type: 'string', default: '5' },
    batch: { type: 'string', default: '32' },
    config: { type: 'string', default: '0.35@96' },
    'no-eager': { type: 'boolean', default: false },
    heads: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const steps = Number(values.steps);
const batch = Number(values.batch);
const classes = 5;
const [alpha, size] = values.config.split('@').map(Number);
const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');

const pooledHead = (name, Pool) =>
  defineHead({
    meta: { name, version: '0.0.0', description: `${name} pooling + Dense(classes), a traced custom layer` },
    schema: {},
    build: (features, { classes: k, seed }) => tf.layers.dense({ units: k, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(new Pool({}).apply(features)),
  })();

const registry = new PluginRegistry();
registry.register(sgd, '@headbench/trainers');
const trainer = registry.create('trainer', 'sgd');
const recipe = checkRecipe(trainer, trainer.recipe({ lr: 0.01, epochs: 5, stepsPerEpoch: 100 }), 5);
const x = tf.randomUniform([batch, size, size, 3], -1, 1, 'float32', 1);
const y = tf.tensor1d(Int32Array.from({ length: batch }, (_, i) => i % classes), 'int32');

const BUILT_IN = { attention, avgmax, bilinear, flatten, gdconv, gem, gmp, lse, mlp, se };
const named = (values.heads ?? '').split(',').filter(Boolean);
for (const name of named) if (!BUILT_IN[name]) throw new Error(`--heads: no built-in head ${name} (${Object.keys(BUILT_IN).join(', ')})`);
const cases = named.length ? [['gap', () => gap(), true], ...named.map((n) => [`${n} graph`, () => BUILT_IN[n](), true]), ...(values['no-eager'] ? [] : named.map((n) => [`${n} eager`, () => BUILT_IN[n](), false]))] : [
  ['gap', () => gap(), true],
  ['gem traced', () => pooledHead('gem', GeMPooling), true],
  ['attention traced', () => pooledHead('attention', AttentionPooling), true],
  ...(values['no-eager'] ? [] : [['gem eager', () => pooledHead('gem', GeMPooling), false], ['attention eager', () => pooledHead('attention', AttentionPooling), false]]),
];
const loadBefore = load();
const stepOf = {};
const models = [];
for (const [name, head, graph] of cases) {
  const { model } = await composeModel(mobilenetv2({ alpha, weights: 'none' }), head(), { inputSize: size, classes, seed: 1 });
  setAcceleration(graph);
  const step = createTrainStep(model, stageStepConfig(recipe, recipe.stages[0], 0, 1), classes);
  for (let i = 0; i < 3; i++) await step(x, y); // compile, then warm up
  setAcceleration(true);
  if ((step.engine?.engine === 'graph') !== graph) throw new Error(`${name} ran ${step.engine?.engine}: ${step.engine?.reason}`);
  stepOf[name] = step;
  models.push(model);
}
const perRound = Object.fromEntries(cases.map(([name]) => [name, []]));
const before = tf.memory().numTensors;
for (let r = 0; r < rounds; r++) {
  const order = cases.map((_, i) => cases[(i + r) % cases.length][0]);
  for (const name of order) {
    const times = [];
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      await stepOf[name](x, y);
      times.push(performance.now() - t0);
    }
    perRound[name].push(median(times));
  }
  process.stderr.write(`round ${r + 1}/${rounds}: ${cases.map(([n]) => `${n} ${perRound[n].at(-1).toFixed(1)} ms`).join(', ')}\n`);
}
const grew = tf.memory().numTensors - before;
const info = runtimeInfo();
console.log(`MobileNetV2 alpha ${alpha} @${size}, batch ${batch}, sgd trainer's first stage, ${rounds} rounds of ${steps} steps; ${os.cpus()[0]?.model} x${os.cpus().length}, TF_ENABLE_ONEDNN_OPTS=${process.env.TF_ENABLE_ONEDNN_OPTS ?? '(policy)'}, tfjs-node ${info.tfjsNode ?? ''}; load ${loadBefore} before, ${load()} after; tensors grew by ${grew}\n`);
console.log('| head | engine | median ms | range ms | x gap (median) | x gap (range) |');
console.log('|---|---|---|---|---|---|');
for (const [name, , graph] of cases) {
  const ms = perRound[name];
  const ratios = ms.map((v, i) => v / perRound.gap[i]);
  console.log(`| ${name.split(' ')[0]} | ${graph ? 'graph' : 'eager'} | ${median(ms).toFixed(1)} | ${Math.min(...ms).toFixed(1)}-${Math.max(...ms).toFixed(1)} | ${median(ratios).toFixed(2)}x | ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)} |`);
}
Object.values(stepOf).forEach((s) => s.dispose());
models.forEach((m) => m.dispose());
tf.dispose([x, y]);
