// Times one configuration in headbench (tfjs-node), as keras_step.py does in Keras and
// torch_step.py in PyTorch, through the same calls `headbench bench` times (createTrainStep,
// compileInference). In order: inference at the batch size and at batch 1 with the weights as
// loaded, the cold first training step, timed training steps, then inference again with the
// weights those steps left (what evaluation after an epoch runs on). Prints one JSON object with
// every sample in ms. HEADBENCH_ACCELERATE=0 times tfjs' own kernels and eager inference instead.
// Usage: node timing.mjs <alpha> <size> <gap|flatten> [--weights imagenet|none] [--batch 32] [--samples 8]
// BENCH_BACKBONE (set by compare.mjs --backbone) picks another backbone, with random weights;
// alpha is MobileNetV2's.
import { performance } from 'node:perf_hooks';
import { composeModel, tf } from '@headbench/core';
import { compileInference, createTrainStep, oneDnnState, sgdConfig } from '@headbench/engine';
import * as backbones from '@headbench/backbones';
import { flatten } from '@headbench/heads-flatten';
import { gap } from '@headbench/heads-gap';

const [alpha, size, headName, ...rest] = process.argv.slice(2);
const option = (name, fallback) => {
  const i = rest.indexOf(`--${name}`);
  return i === -1 ? fallback : rest[i + 1];
};
const B = Number(option('batch', '32'));
const samples = Number(option('samples', '8'));
const weights = option('weights', 'imagenet');
const others = { mobilenetv3small: backbones.mobilenetv3small, mobilenetv3large: backbones.mobilenetv3large, efficientnetb0: backbones.efficientnetb0, resnet50: backbones.resnet50, resnet50v2: backbones.resnet50v2 };
const backboneName = process.env.BENCH_BACKBONE ?? 'mobilenetv2';
const backbone = () => {
  if (backboneName === 'mobilenetv2') return backbones.mobilenetv2({ alpha: Number(alpha), weights });
  const make = others[/** @type {keyof typeof others} */ (backboneName)];
  if (!make) throw new Error(`BENCH_BACKBONE=${backboneName}: one of mobilenetv2, ${Object.keys(others).join(', ')}`);
  if (weights !== 'none') throw new Error(`BENCH_BACKBONE=${backboneName}: only --weights none (ImageNet weights are bundled for MobileNetV2 only)`);
  return make({ weights: 'none' });
};
const classes = 5;
const head = headName === 'flatten' ? flatten() : gap();
const { model } = await composeModel(backbone(), head, { inputSize: Number(size), classes, seed: 1 });
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

async function timed(fn, warmup, n) {
  for (let i = 0; i < warmup; i++) await fn();
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return times;
}

const infer = await timed(predict(x), 2, samples);
const infer1 = await timed(predict(x1), 3, samples * 2);
const t0 = performance.now();
await step(x, y);
const cold = [performance.now() - t0];
const train = await timed(() => step(x, y), 3, samples);
const inferTrained = await timed(predict(x), 2, samples);
const infer1Trained = await timed(predict(x1), 3, samples * 2);
const trainSteps = 1 + 3 + samples;
process.stdout.write(
  `${JSON.stringify({ samples: { cold, train, infer, infer1, inferTrained, infer1Trained }, trainSteps, weights, inference: inference.engine, passes: inference.passes, train: step.engine?.engine, trainReason: step.engine?.reason, onednn: oneDnnState() })}\n`,
);
