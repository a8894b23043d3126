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
import './load-tensorflow.js';
import * as tf from '@tensorflow/tfjs-node';

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
    let g: tf.Tensor4D = dy;
    if (sh > 1 || sw > 1) {
      // Zeros between the rows and columns of dy: [n, outH, 1, outW, 1, c] padded to the stride.
      const spread = tf.pad(tf.reshape(dy, [n, outH, 1, outW, 1, outC]), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
      g = tf.slice(tf.reshape(spread, [n, outH * sh, outW * sw, outC]), [0, 0, 0, 0], [n, dilated[0], dilated[1], outC]) as tf.Tensor4D;
    }
    g = tf.pad(g, [[0, 0], pads[0], pads[1], [0, 0]]);
    const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    return tf.conv2d(g, flipped, 1, 'valid');
  });
}

type KernelConfig = NonNullable<ReturnType<typeof tf.getKernel>>;

const applied: string[] = [];

/** The kernel fixes in effect in this process (recorded with every result). */
export function kernelFixes(): readonly string[] {
  return applied;
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

/** Probes the native kernels once and replaces those that compute wrong results here. */
export function applyKernelFixes(): void {
  if (applied.length || tf.getBackend() !== 'tensorflow') return;
  const native = tf.getKernel(KERNEL, 'tensorflow');
  if (!native || !conv2dBackpropInputIsWrong(native)) return;
  tf.unregisterKernel(KERNEL, 'tensorflow');
  tf.registerKernel({
    kernelName: KERNEL,
    backendName: 'tensorflow',
    kernelFunc: (args) => {
      const { dy, filter } = args.inputs as { dy: tf.Tensor4D; filter: tf.Tensor4D };
      type Info = Parameters<typeof tf.backend_util.computeConv2DInfo>;
      const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as unknown as { strides: Info[2]; pad: Info[4]; dataFormat: 'NHWC' | 'NCHW'; dimRoundingMode: Info[5]; inputShape: Info[0] };
      const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
      const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape, strides, 1, pad, dimRoundingMode, false, format) as unknown as ConvInfo;
      const plain = info.dataFormat === 'channelsLast' && info.dilationHeight === 1 && info.dilationWidth === 1 && (info.padInfo.type === 'SAME' || info.padInfo.type === 'VALID');
      return plain ? conv2dBackpropInputByForward(dy, filter, info) : (native.kernelFunc(args) as tf.TensorInfo);
    },
  });
  applied.push('Conv2DBackpropInput computed from forward convolutions (the native kernel is wrong on this CPU)');
}
