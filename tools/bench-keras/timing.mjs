// Times one configuration in headbench (tfjs-node), as keras_step.py does in Keras: the cold
// first training step, then medians of timed training steps, inference at the batch size and at
// batch 1, in ms, through the same calls `headbench bench` times (createTrainStep,
// compileInference). HEADBENCH_ACCELERATE=0 times tfjs' own kernels and eager inference instead.
// Usage: node timing.mjs <alpha> <size> <gap|flatten> [batch] [samples]
import { performance } from 'node:perf_hooks';
import { composeModel, median, tf } from '@headbench/core';
import { compileInference, createTrainStep, sgdConfig } from '@headbench/engine';
import * as backbones from '@headbench/backbones';
import { flatten } from '@headbench/heads-flatten';
import { gap } from '@headbench/heads-gap';

const [alpha, size, headName, batch = '32', samplesText = '8'] = process.argv.slice(2);
// BENCH_BACKBONE (set by compare.mjs --backbone): which backbone, random weights; alpha is MobileNetV2's.
const others = { mobilenetv3small: backbones.mobilenetv3small, mobilenetv3large: backbones.mobilenetv3large, efficientnetb0: backbones.efficientnetb0, resnet50: backbones.resnet50, resnet50v2: backbones.resnet50v2 };
const backboneName = process.env.BENCH_BACKBONE ?? 'mobilenetv2';
const backbone = () => {
  if (backboneName === 'mobilenetv2') return backbones.mobilenetv2({ alpha: Number(alpha), weights: 'none' });
  const make = others[/** @type {keyof typeof others} */ (backboneName)];
  if (!make) throw new Error(`BENCH_BACKBONE=${backboneName}: one of mobilenetv2, ${Object.keys(others).join(', ')}`);
  return make({ weights: 'none' });
};
const B = Number(batch);
const samples = Number(samplesText);
const classes = 5;
const head = headName === 'flatten' ? flatten() : gap();
const { model } = await composeModel(backbone(),  head, { inputSize: Number(size), classes, seed: 1 });
const x = tf.randomUniform([B, Number(size), Number(size), 3], -1, 1, 'float32', 1);
const x1 = x.slice([0, 0, 0, 0], [1, -1, -1, -1]);
const y = tf.tensor1d(Int32Array.from({ length: B }, (_, i) => i % classes), 'int32');
const stepConfig = sgdConfig(0.01, 0);
const step = createTrainStep(model, stepConfig, classes);
const inference = await compileInference(model);
const predict = (input) => async () => {
  const out = inference.predict(input);
  await out.data();
  out.dispose();
};

async function medianMs(fn, warmup, n) {
  for (let i = 0; i < warmup; i++) await fn();
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

const t0 = performance.now();
await step(x, y);
const coldMs = performance.now() - t0;
const trainMs = await medianMs(() => step(x, y), 3, samples);
const inferMs = await medianMs(predict(x), 2, samples);
const infer1Ms = await medianMs(predict(x1), 3, samples * 2);
process.stdout.write(`${JSON.stringify({ coldMs, trainMs, inferMs, infer1Ms, inference: inference.engine, train: step.engine?.engine, trainReason: step.engine?.reason })}\n`);
