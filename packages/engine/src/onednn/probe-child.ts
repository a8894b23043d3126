// The kernel probe's child process (policy.ts starts it; child-runner.ts reads what it writes).
// argv[2]: the cases to run, as JSON. TF_ENABLE_ONEDNN_OPTS and ONEDNN_MAX_CPU_ISA are set by the
// parent; HEADBENCH_KERNEL_PROBE=1 keeps this process from probing again.
//   conv1x1:<in>:<out>  oneDNN's 1x1 convolution, forward and both gradients, on the native kernels
//   train:depthwise     a small MobileNet-like network's training step on the graph engine: its
//                       step times, and its weights after one step (written to
//                       <HEADBENCH_PROBE_OUT>/depthwise.f32 where that folder is given)
//   train:dense         the same for a small ResNet-like network (dense 3x3 and 1x1 convolutions)
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { nativeKernel } from '../kernel-fixes.js';
import { tf } from '../runtime.js';
import { createTrainStep, sgdConfig } from '../step.js';

const say = (line: string) => fs.writeSync(1, `${line}\n`);

function conv1x1(input: number, output: number): void {
  tf.tidy(() => {
    const x = tf.randomNormal([1, 2, 2, input], 0, 1, 'float32', 1);
    const filter = tf.randomNormal([1, 1, input, output], 0, 1, 'float32', 2);
    const dy = tf.randomNormal([1, 2, 2, output], 0, 1, 'float32', 3);
    const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1, dimRoundingMode: undefined };
    const run = (name: string, inputs: tf.NamedTensorMap, extra: Record<string, unknown> = {}) => {
      const kernel = nativeKernel(name);
      if (!kernel) throw new Error(`TensorFlow has no ${name} kernel`);
      const out = kernel.kernelFunc({ inputs, backend: tf.backend(), attrs: { ...attrs, ...extra } as unknown as tf.NamedAttrMap }) as tf.TensorInfo;
      tf.engine().makeTensorFromTensorInfo(out).dataSync();
    };
    run('Conv2D', { x, filter });
    run('Conv2DBackpropInput', { dy, filter }, { inputShape: x.shape });
    run('Conv2DBackpropFilter', { x, dy }, { filterShape: filter.shape });
  });
}

/** The probe network's input size: large enough that the step measures kernels more than overhead (0.79x at 64 px, 0.40-0.52x at 128 px on a Zen 5, where MobileNetV2 1.0 at 224 px is about 0.12x). */
const SIZE = 128;

const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor) => layer.apply(x) as tf.SymbolicTensor;

// Seeded afresh for each network, so that the two kernel families start from the same weights.
let seed = 1;
const init = () => tf.initializers.glorotUniform({ seed: seed++ });
const bn = () => tf.layers.batchNormalization({ epsilon: 1e-3, momentum: 0.99 });
const conv = (x: tf.SymbolicTensor, filters: number, kernelSize: number, strides = 1) => apply(bn(), apply(tf.layers.conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: init() }), x));
const relu = (x: tf.SymbolicTensor, maxValue?: number) => apply(tf.layers.reLU(maxValue === undefined ? {} : { maxValue }), x);
const add = (a: tf.SymbolicTensor, b: tf.SymbolicTensor) => apply(tf.layers.add(), [a, b] as unknown as tf.SymbolicTensor);
const classify = (x: tf.SymbolicTensor) => apply(tf.layers.dense({ units: 5, kernelInitializer: init() }), apply(tf.layers.globalAveragePooling2d({}), x));

/**
 * Inverted residual blocks as in MobileNetV2 (MobileNetV3, EfficientNet), with channel counts
 * (40, 112) where TensorFlow 2.21's oneDNN input gradient was wrong on AVX-512 machines, so a
 * wrong kernel shows.
 */
function depthwiseModel(): tf.LayersModel {
  const depthwise = (x: tf.SymbolicTensor, strides: number) => apply(bn(), apply(tf.layers.depthwiseConv2d({ kernelSize: 3, strides, padding: 'same', useBias: false, depthwiseInitializer: init() }), x));
  const input = tf.input({ shape: [SIZE, SIZE, 3] });
  let x = relu(conv(input, 16, 3, 2), 6);
  for (const [expand, out, stride] of [[48, 24, 2], [96, 40, 2], [160, 40, 1], [224, 112, 2]] as const) {
    const inChannels = x.shape[3] as number;
    const y = conv(relu(depthwise(relu(conv(x, expand, 1), 6), stride), 6), out, 1);
    x = stride === 1 && inChannels === out ? add(x, y) : y;
  }
  return tf.model({ inputs: input, outputs: classify(relu(conv(x, 256, 1), 6)) });
}

/**
 * Bottleneck blocks as in ResNet50 (dense 3x3 convolutions between 1x1 ones, projection
 * shortcuts): on an AVX2 EPYC oneDNN trained MobileNetV2 faster than TensorFlow's own kernels and
 * ResNet50 2.6x slower, so one network cannot speak for both kinds of backbone.
 */
function denseModel(): tf.LayersModel {
  const input = tf.input({ shape: [SIZE, SIZE, 3] });
  let x = apply(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }), relu(conv(input, 32, 7, 2)));
  for (const [width, out, stride] of [[32, 128, 1], [64, 256, 2]] as const) {
    const y = conv(relu(conv(relu(conv(x, width, 1)), width, 3, stride)), out, 1);
    x = relu(add(conv(x, out, 1, stride), y));
  }
  return tf.model({ inputs: input, outputs: classify(x) });
}

const NETWORKS = { depthwise: depthwiseModel, dense: denseModel } as const;
export type ProbeNetwork = keyof typeof NETWORKS;

async function train(network: string): Promise<unknown> {
  const build = NETWORKS[network as ProbeNetwork];
  if (!build) throw new Error(`unknown probe network ${network}`);
  seed = 1;
  const model = build();
  const x = tf.randomUniform([16, SIZE, SIZE, 3], -1, 1, 'float32', 7) as tf.Tensor4D;
  const y = tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 5), 'int32');
  const step = createTrainStep(model, sgdConfig(0.01, 0.9), 5);
  const first = await step(x, y);
  if (step.engine?.engine !== 'graph') throw new Error(`the probe model did not train on the graph engine: ${JSON.stringify(step.engine)}`);
  const out = process.env['HEADBENCH_PROBE_OUT'];
  if (out) {
    const values = model.weights.flatMap((w) => Array.from(w.read().dataSync()));
    fs.writeFileSync(path.join(out, `${network}.f32`), Buffer.from(Float32Array.from(values).buffer));
  }
  const timesMs: number[] = [];
  for (let i = 0; i < 10; i++) {
    const start = performance.now();
    await step(x, y);
    timesMs.push(performance.now() - start);
  }
  step.dispose();
  model.dispose();
  tf.dispose([x, y]);
  // The first two steps after the first still settle TensorFlow's caches; the rest are timed.
  return { loss: first.loss, timesMs: timesMs.slice(2) };
}

for (const name of JSON.parse(process.argv[2] ?? '[]') as string[]) {
  say(`start ${name}`);
  const [kind, a, b] = name.split(':');
  const data = kind === 'conv1x1' ? (conv1x1(Number(a), Number(b)), null) : kind === 'train' && a ? await train(a) : undefined;
  if (data === undefined) throw new Error(`unknown probe case ${name}`);
  say(`ok ${name} ${JSON.stringify(data)}`);
}
