// Corrections for TensorFlow kernels that compute wrong results on some machines, found by
// probing the kernel at load time and replaced only where the probe fails.
//
// Conv2DBackpropInput (the gradient of a convolution with respect to its input): TensorFlow
// 2.21's oneDNN build gets it wrong on this project's AVX-512 machines for many input channel
// counts (1x1 kernels with 40, 72, 80, 104, 112, 136, ..., 320 channels, stride 1 or 2; 3x3
// kernels at stride 2 with 40, 48, 72, ...): whole channels of the gradient are garbage, off by
// the size of the gradient itself. Keras on the same TensorFlow has the same fault. In
// MobileNetV2 it hits Conv_1 (112 input channels at alpha 0.35, 320 at 1.0), so every weight
// below it trained on a wrong gradient. The forward convolution and the filter gradient are
// right, so the replacement computes the input gradient from those:
//   - 1x1 kernel, stride 1: a matrix product, dy [N*H*W, out] x filter^T [out, in];
//   - otherwise: a forward convolution of dy, dilated by the stride and padded, with the filter
//     flipped in space and transposed in channels (the textbook transposed convolution).
// Both are checked against the adjoint identity <dx, p> = <conv(p, filter), dy> in
// kernel-fixes.test.ts.
//
// 1x1 convolutions that oneDNN's convolution dies on (onednn/policy.ts finds the channel pairs):
// Conv2D, FusedConv2D and both gradients run as matrix products over the pixels, the strided
// ones over a strided slice of the input: the same arithmetic on oneDNN's matmul.
import './load-tensorflow.js';
import * as tf from '@tensorflow/tfjs-node';
import { conv1x1AsMatMul, oneDnnState } from './onednn/state.js';

const KERNEL = 'Conv2DBackpropInput';

interface ConvInfo {
  inShape: [number, number, number, number];
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  dataFormat: string;
  padInfo: { top: number; left: number; type: string };
}

/**
 * The layout of a convolution's input gradient as a forward convolution: dy, dilated by the
 * stride to `dilated` [h, w] (zeros between its rows and columns), is padded by `pads`
 * [[top, bottom], [left, right]] and convolved at stride 1, valid, with the flipped filter.
 * `padBefore` is the forward pass's top and left padding, `outSize` its output [h, w].
 */
export function transposedConvLayout(
  [inH, inW]: [number, number],
  [kh, kw]: [number, number],
  [sh, sw]: [number, number],
  [padTop, padLeft]: [number, number],
  [outH, outW]: [number, number],
): { dilated: [number, number]; pads: [[number, number], [number, number]] } {
  const dilated: [number, number] = [(outH - 1) * sh + 1, (outW - 1) * sw + 1];
  const top = kh - 1 - padTop;
  const left = kw - 1 - padLeft;
  return { dilated, pads: [[top, inH + kh - 1 - dilated[0] - top], [left, inW + kw - 1 - dilated[1] - left]] };
}

/**
 * `dy` [n, h, w, c] with zeros between its rows and columns, stride - 1 of them, cut to `size`:
 * where a strided convolution's input gradient puts each output pixel's contribution.
 */
function spreadByStride(dy: tf.Tensor4D, [sh, sw]: [number, number], size: [number, number]): tf.Tensor4D {
  if (sh === 1 && sw === 1) return dy;
  const [n, h, w, c] = dy.shape;
  const spread = tf.pad(tf.reshape(dy, [n, h, 1, w, 1, c]), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
  return tf.slice(tf.reshape(spread, [n, h * sh, w * sw, c]), [0, 0, 0, 0], [n, size[0], size[1], c]) as tf.Tensor4D;
}

/** The input gradient of conv2d(x, filter, strides, padding) from forward convolutions and matrix products. */
export function conv2dBackpropInputByForward(dy: tf.Tensor4D, filter: tf.Tensor4D, info: ConvInfo): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, inH, inW, inC] = info.inShape;
    const [kh, kw, , outC] = filter.shape;
    const [, outH, outW] = dy.shape;
    const [sh, sw] = [info.strideHeight, info.strideWidth];
    if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && outH === inH && outW === inW) {
      return tf.matMul(tf.reshape(dy, [-1, outC]), tf.reshape(filter, [inC, outC]), false, true).reshape([n, inH, inW, inC]);
    }
    const { dilated, pads } = transposedConvLayout([inH, inW], [kh, kw], [sh, sw], [info.padInfo.top, info.padInfo.left], [outH, outW]);
    const g = tf.pad(spreadByStride(dy, [sh, sw], dilated), [[0, 0], pads[0], pads[1], [0, 0]]);
    const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    return tf.conv2d(g, flipped, 1, 'valid');
  });
}

type KernelConfig = NonNullable<ReturnType<typeof tf.getKernel>>;
type Args = Parameters<KernelConfig['kernelFunc']>[0];

const applied: string[] = [];
let probed = false;
const natives = new Map<string, KernelConfig>();

/** The kernel fixes in effect in this process (recorded with every result). */
export function kernelFixes(): readonly string[] {
  return applied;
}

/** TensorFlow's own kernel for `name`, also where a fix replaced it (the kernel probe runs it). */
export function nativeKernel(name: string): KernelConfig | undefined {
  return natives.get(name) ?? tf.getKernel(name, 'tensorflow');
}

/** Replaces a native kernel by `run`, which gets the native one to fall back on. */
function replaceKernel(name: string, run: (args: Args, native: KernelConfig) => tf.TensorInfo | tf.TensorInfo[]): void {
  const native = nativeKernel(name);
  if (!native) return;
  natives.set(name, native);
  tf.unregisterKernel(name, 'tensorflow');
  tf.registerKernel({ kernelName: name, backendName: 'tensorflow', kernelFunc: (args) => run(args, native) });
}

function conv2dBackpropInputIsWrong(native: KernelConfig): boolean {
  return tf.tidy(() => {
    // The smallest case seen failing: a 1x1 kernel on 112 channels, stride 1.
    const filter = tf.randomNormal([1, 1, 112, 24], 0, 1, 'float32', 2) as tf.Tensor4D;
    const dy = tf.randomNormal([2, 4, 4, 24], 0, 1, 'float32', 3) as tf.Tensor4D;
    const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined, inputShape: [2, 4, 4, 112] };
    const got = native.kernelFunc({ inputs: { dy, filter }, backend: tf.backend(), attrs: attrs as unknown as tf.NamedAttrMap }) as tf.Tensor;
    const want = tf.matMul(tf.reshape(dy, [-1, 24]), tf.reshape(filter, [112, 24]), false, true).reshape([2, 4, 4, 112]);
    const error = tf.max(tf.abs(tf.sub(got, want))).dataSync()[0] as number;
    got.dispose();
    return !(error < 1e-3);
  });
}

type ConvAttrs = { strides: Parameters<typeof tf.backend_util.computeConv2DInfo>[2]; pad: unknown; dataFormat: 'NHWC' | 'NCHW'; dilations?: number | [number, number]; dimRoundingMode?: unknown };

/** The strides of a convolution that the matrix-product form takes: NHWC, SAME or VALID, undilated. */
function plainStrides(attrs: ConvAttrs): [number, number] | undefined {
  const dilations = attrs.dilations ?? 1;
  const undilated = typeof dilations === 'number' ? dilations === 1 : dilations.every((d) => d === 1);
  if (attrs.dataFormat !== 'NHWC' || !undilated || (attrs.pad !== 'same' && attrs.pad !== 'valid')) return undefined;
  const s = attrs.strides;
  return typeof s === 'number' ? [s, s] : [s[0], s[1]];
}

/** The pixels a 1x1 convolution reads: every `stride`-th row and column (SAME and VALID agree for 1x1). */
function sampled(x: tf.Tensor4D, [sh, sw]: [number, number]): tf.Tensor4D {
  return sh === 1 && sw === 1 ? x : (tf.stridedSlice(x, [0, 0, 0, 0], x.shape, [1, sh, sw, 1]) as tf.Tensor4D);
}

/** A 1x1 convolution as a matrix product over the (sampled) pixels. */
export function conv1x1ByMatMul(x: tf.Tensor4D, filter: tf.Tensor4D, strides: [number, number]): tf.Tensor4D {
  return tf.tidy(() => {
    const xs = sampled(x, strides);
    const [n, h, w, c] = xs.shape;
    const out = filter.shape[3];
    return tf.matMul(tf.reshape(xs, [-1, c]), tf.reshape(filter, [c, out])).reshape([n, h, w, out]);
  });
}

/** The filter gradient of a 1x1 convolution: sampled inputs^T x dy. */
export function conv1x1FilterGradByMatMul(x: tf.Tensor4D, dy: tf.Tensor4D, strides: [number, number]): tf.Tensor4D {
  return tf.tidy(() => {
    const c = x.shape[3];
    const out = dy.shape[3];
    return tf.matMul(tf.reshape(sampled(x, strides), [-1, c]), tf.reshape(dy, [-1, out]), true, false).reshape([1, 1, c, out]);
  });
}

/** The input gradient of a 1x1 convolution: dy x filter^T, put back at the sampled pixels. */
export function conv1x1InputGradByMatMul(dy: tf.Tensor4D, filter: tf.Tensor4D, inShape: [number, number, number, number], strides: [number, number]): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = dy.shape;
    const inC = inShape[3];
    const g = tf.matMul(tf.reshape(dy, [-1, c]), tf.reshape(filter, [inC, c]), false, true).reshape([n, h, w, inC]) as tf.Tensor4D;
    return spreadByStride(g, strides, [inShape[1], inShape[2]]);
  });
}

/** Whether a convolution with this filter is one the 1x1 avoidance takes, and at which strides. */
function avoided(filterShape: readonly number[], attrs: ConvAttrs): [number, number] | undefined {
  const [kh, kw, cin, cout] = filterShape as [number, number, number, number];
  if (kh !== 1 || kw !== 1 || !conv1x1AsMatMul(cin, cout)) return undefined;
  return plainStrides(attrs);
}

function avoidConv1x1(): void {
  replaceKernel('Conv2D', (args, native) => {
    const { x, filter } = args.inputs as { x: tf.Tensor4D; filter: tf.Tensor4D };
    const strides = avoided(filter.shape, args.attrs as unknown as ConvAttrs);
    return strides ? conv1x1ByMatMul(x, filter, strides) : (native.kernelFunc(args) as tf.TensorInfo);
  });
  replaceKernel('FusedConv2D', (args, native) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs as { x: tf.Tensor4D; filter: tf.Tensor4D; bias?: tf.Tensor; preluActivationWeights?: tf.Tensor };
    const attrs = args.attrs as unknown as ConvAttrs & { activation: tf.fused.Activation; leakyreluAlpha?: number };
    const strides = avoided(filter.shape, attrs);
    if (!strides || preluActivationWeights) return native.kernelFunc(args) as tf.TensorInfo;
    return tf.tidy(() => {
      const xs = sampled(x, strides);
      const [n, h, w, c] = xs.shape;
      const out = filter.shape[3];
      const y = tf.fused.matMul({ a: tf.reshape(xs, [-1, c]), b: tf.reshape(filter, [c, out]), ...(bias ? { bias } : {}), activation: attrs.activation, ...(attrs.leakyreluAlpha !== undefined ? { leakyreluAlpha: attrs.leakyreluAlpha } : {}) });
      return y.reshape([n, h, w, out]);
    });
  });
  replaceKernel('Conv2DBackpropFilter', (args, native) => {
    const { x, dy } = args.inputs as { x: tf.Tensor4D; dy: tf.Tensor4D };
    const attrs = args.attrs as unknown as ConvAttrs & { filterShape: number[] };
    const strides = avoided(attrs.filterShape, attrs);
    return strides ? conv1x1FilterGradByMatMul(x, dy, strides) : (native.kernelFunc(args) as tf.TensorInfo);
  });
}

/**
 * Probes the native kernels once and replaces those that compute wrong results here, and, where
 * the oneDNN policy says so, those that die.
 */
export function applyKernelFixes(): void {
  if (probed || tf.getBackend() !== 'tensorflow') return;
  probed = true;
  const avoid = oneDnnState().conv1x1AsMatMul;
  // Recorded as the oneDNN state's conv1x1AsMatMul, not as a fix: these kernels are right, they die.
  if (avoid) avoidConv1x1();
  const native = tf.getKernel(KERNEL, 'tensorflow');
  const wrong = native !== undefined && conv2dBackpropInputIsWrong(native);
  if (!wrong && !avoid) return;
  replaceKernel(KERNEL, (args, nativeKernel) => {
    const { dy, filter } = args.inputs as { dy: tf.Tensor4D; filter: tf.Tensor4D };
    type Info = Parameters<typeof tf.backend_util.computeConv2DInfo>;
    const attrs = args.attrs as unknown as ConvAttrs & { inputShape: Info[0] };
    const strides = avoided(filter.shape, attrs);
    if (strides) return conv1x1InputGradByMatMul(dy, filter, attrs.inputShape as [number, number, number, number], strides);
    if (!wrong) return nativeKernel.kernelFunc(args) as tf.TensorInfo;
    const format = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat);
    const info = tf.backend_util.computeConv2DInfo(attrs.inputShape, filter.shape, attrs.strides, 1, attrs.pad as Info[4], attrs.dimRoundingMode as Info[5], false, format) as unknown as ConvInfo;
    const plain = info.dataFormat === 'channelsLast' && info.dilationHeight === 1 && info.dilationWidth === 1 && (info.padInfo.type === 'SAME' || info.padInfo.type === 'VALID');
    return plain ? conv2dBackpropInputByForward(dy, filter, info) : (nativeKernel.kernelFunc(args) as tf.TensorInfo);
  });
  if (wrong) applied.push('Conv2DBackpropInput computed from forward convolutions (the native kernel is wrong on this CPU)');
}

/** Whether the input gradient of convolutions is computed from forward convolutions here. */
export function conv2dBackpropInputReplaced(): boolean {
  return applied.some((f) => f.startsWith('Conv2DBackpropInput'));
}
