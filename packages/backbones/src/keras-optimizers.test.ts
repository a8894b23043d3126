// Three training steps of each built-in optimiser against real Keras (tools/keras-reference/
// make_trainer_fixtures.py, fixtures/keras/optimizer_steps_0.35): SGD with momentum and weight
// decay, Nesterov with a warmed-up cosine schedule, clipnorm with label smoothing, Adam plain and
// with a cosine schedule and label smoothing, AdamW with a step decay, RMSprop plain and centred
// with momentum and clipnorm; MobileNetV2 alpha 0.35 at 64x64 from the start of the one-step SGD
// fixture (keras-train-step.test.ts), the whole model trained, the same batch at each step.
// Before each step the weights and moving statistics go back to the start while the optimiser
// keeps its state, so every step is an update at the next iteration from the same weights: a
// three-step trajectory cannot be compared this tightly, because ReLU6's kinks make the gradient
// jump (README of tools/keras-reference). Keras' train_on_batch wrote the losses, the learning
// rate of each step (its schedule's value) and every weight after each step (sampled);
// headbench's createTrainStep, given the engine spec the fixture names and the same learning
// rates, must reproduce them. packages/trainers checks that its trainers give those specs and
// learning rates.
//
// oneDNN is off for this file as for keras-train-step.test.ts, and for the same reasons.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { tf as tfTypes } from '@headbench/core';
import type { OptimizerSpec } from '@headbench/engine';
import { H5_FIXTURE_DIR, KERAS_DIR } from './testing/fixtures.js';

process.env['TF_ENABLE_ONEDNN_OPTS'] = '0';
const { composeModel, defineHead, tf } = await import('@headbench/core');
const { accelerationEnabled, createTrainStep, setAcceleration } = await import('@headbench/engine');
const { mobilenetv2 } = await import('./mobilenetv2.js');
const { namedWeights } = await import('./weights/assign.js');

// The limits of keras-train-step.test.ts, unchanged.
const LOSS_TOLERANCE = 1e-5;
const WEIGHT_TOLERANCE = 1e-4;
const MOVING_TOLERANCE = 1e-6;

const DIR = path.join(KERAS_DIR, 'optimizer_steps_0.35');
const START = path.join(KERAS_DIR, 'train_step_0.35');
interface Config {
  name: string;
  trainer: string;
  engine: OptimizerSpec;
  labelSmoothing: number;
  learningRates: number[];
  losses: number[];
  file: string;
  maxChange: { trainable: number; moving: number };
}
const meta = JSON.parse(readFileSync(path.join(DIR, 'meta.json'), 'utf8')) as { steps: number; weights: { name: string; shape: number[]; sampled: number }[]; configs: Config[] };
const start = JSON.parse(readFileSync(path.join(START, 'meta.json'), 'utf8')) as { labels: number[]; model: { alpha: number; size: number; classes: number } };
const { alpha, size, classes } = start.model;

function readFloats(file: string): Float32Array {
  const bytes = readFileSync(file);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

const gapDense = defineHead({
  meta: { name: 'gap-dense', version: '0.0.0' },
  schema: {},
  build: (features, { classes: units }) => tf.layers.dense({ units, name: 'dense' }).apply(tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(features)) as tfTypes.SymbolicTensor,
});

/** The fixture's sampling: at most m values of a weight, at flat indices floor(k * n / m). */
function sample(values: Float32Array, m: number): Float32Array {
  const n = values.length;
  return Float32Array.from({ length: m }, (_, k) => values[Math.floor((k * n) / m)]!);
}

/** Every weight of the model as `<layer>/<weight>`, sampled as the fixture is. */
function sampled(model: tfTypes.LayersModel): { name: string; values: Float32Array }[] {
  return model.layers.flatMap(namedWeights).map(({ layer, weight, variable }, i) => ({ name: `${layer}/${weight}`, values: sample(variable.read().dataSync() as Float32Array, meta.weights[i]!.sampled) }));
}

/** Keras' weights after each step, in the fixture's order. */
function kerasAfter(config: Config): { name: string; values: Float32Array }[][] {
  const all = readFloats(path.join(DIR, config.file));
  let offset = 0;
  return Array.from({ length: meta.steps }, () =>
    meta.weights.map(({ name, sampled: m }) => {
      const values = all.subarray(offset, offset + m);
      offset += m;
      return { name: name.replace(/:0$/, ''), values };
    }),
  );
}

async function ourSteps(config: Config) {
  const { model } = await composeModel(mobilenetv2({ alpha, weights: path.join(H5_FIXTURE_DIR, 'weights.h5'), trainable: true }), gapDense(), { inputSize: size, classes, seed: 1 });
  tf.tidy(() => model.getLayer('dense').setWeights([tf.tensor2d(readFloats(path.join(START, 'dense_kernel.bin')), [1280, classes]), tf.tensor1d(readFloats(path.join(START, 'dense_bias.bin')))]));
  const startWeights = model.getWeights().map((w) => w.clone());
  const x = tf.tensor4d(readFloats(path.join(START, 'input.bin')), [start.labels.length, size, size, 3]);
  const y = tf.tensor1d(start.labels, 'int32');
  const step = createTrainStep(model, { optimizer: config.engine, learningRate: (i) => config.learningRates[i]!, labelSmoothing: config.labelSmoothing }, classes);
  const losses: number[] = [];
  const after: { name: string; values: Float32Array }[][] = [];
  for (let i = 0; i < meta.steps; i++) {
    losses.push((await step(x, y)).loss);
    after.push(sampled(model));
    // Back to the start, as the fixture did; the step keeps the optimiser's state.
    model.setWeights(startWeights);
  }
  const engine = step.engine?.engine;
  step.dispose();
  tf.dispose([x, y, ...startWeights]);
  model.dispose();
  return { losses, after, engine };
}

const isMoving = (name: string) => /\/moving_(mean|variance)$/.test(name);
const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] as number))), 0);

function worst(ours: { name: string; values: Float32Array }[], theirs: { name: string; values: Float32Array }[], which: (name: string) => boolean) {
  return ours
    .map((w, i) => ({ name: w.name, diff: maxAbsDiff(w.values, theirs[i]!.values) }))
    .filter((w) => which(w.name))
    .reduce((a, b) => (b.diff > a.diff ? b : a));
}

const initial = accelerationEnabled();
afterAll(() => setAcceleration(initial));

describe.each([true, false])('three training steps match Keras train_on_batch, accelerated=%s', (accelerated) => {
  it.each(meta.configs.map((c) => [c.name, c] as const))(
    `%s: losses within ${LOSS_TOLERANCE.toExponential()}, trainable weights within ${WEIGHT_TOLERANCE.toExponential()}, moving statistics within ${MOVING_TOLERANCE.toExponential()}`,
    async (_name, config) => {
      setAcceleration(accelerated);
      const { losses, after, engine } = await ourSteps(config);
      expect(engine).toBe(accelerated ? 'graph' : 'eager');
      const keras = kerasAfter(config);
      losses.forEach((loss, i) => expect(Math.abs(loss - config.losses[i]!), `loss of step ${i + 1}`).toBeLessThan(LOSS_TOLERANCE));
      // The limits are far below what the steps change, so they do test them.
      expect(config.maxChange.trainable).toBeGreaterThan(50 * WEIGHT_TOLERANCE);
      expect(config.maxChange.moving).toBeGreaterThan(1000 * MOVING_TOLERANCE);
      const report: string[] = [];
      after.forEach((weights, i) => {
        expect(weights.map((w) => w.name)).toEqual(keras[i]!.map((w) => w.name));
        const trainable = worst(weights, keras[i]!, (name) => !isMoving(name));
        expect(trainable.diff, `step ${i + 1}: ${trainable.name}`).toBeLessThan(WEIGHT_TOLERANCE);
        const moving = worst(weights, keras[i]!, isMoving);
        expect(moving.diff, `step ${i + 1}: ${moving.name}`).toBeLessThan(MOVING_TOLERANCE);
        report.push(`step ${i + 1}: trainable ${trainable.diff.toExponential(1)} (${trainable.name}), moving ${moving.diff.toExponential(1)}`);
      });
      const lossDiff = Math.max(...losses.map((l, i) => Math.abs(l - config.losses[i]!)));
      console.log(`${config.name} (${accelerated ? 'graph' : 'eager'}): loss ${lossDiff.toExponential(1)}; ${report.join('; ')}`);
    },
  );
});
