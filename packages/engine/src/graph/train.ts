import { conv2dBackpropInputReplaced, transposedConvLayout } from '../kernel-fixes.js';
import { applyOptimizer, resolveOptimizer, type OptimizerSpec } from '../optimizers.js';
import { tf } from '../runtime.js';
import { augmentImages, augments, seedInputs, type AugmentOptions } from './augment.js';
import { graphOps } from './ops.js';
import { knownInputs, traceLayer } from './trace.js';
import { DT_BOOL, DT_FLOAT, DT_INT32, type NodeDef, type Signature } from './saved-model.js';
import {
  bytes,
  contextOf,
  convForward,
  denseForward,
  GraphBuilder,
  layerTranslators,
  normalizationScale,
  pair,
  SAMPLE_ATTRS,
  singleInputOutput,
  T,
  translateCalls,
  UnsupportedLayerError,
  weightInputs,
  type Conv1x1MatMul,
  type GraphTensor,
  type LayerContext,
} from './translate.js';

/**
 * One training step of a tfjs-layers model as a TensorFlow graph: optional augmentation of the
 * batch, the forward pass in training mode, softmax cross-entropy on the logits, the backward pass
 * written out layer by layer with TensorFlow's gradient kernels (as TensorFlow's own gradient
 * registry would), the optimiser's update (optimizers.ts) and the updated weights, optimiser
 * state and BatchNorm moving statistics as outputs. The caller feeds the images, labels, learning
 * rate, step count, seeds, every weight and the optimiser's state, and assigns the outputs back
 * to the variables: one session run per step instead of a thousand eager ops.
 *
 * Semantics are tfjs-layers' and Keras': the mean loss over the batch, the optimiser's rule for
 * every trainable weight, training-mode BatchNorm normalising with the batch statistics and
 * moving them by `moving -= (moving - batch) * (1 - momentum)` with the biased batch variance,
 * and a BatchNorm layer that is not trainable normalising with its moving statistics (Keras'
 * rule, which the backbones keep). Layers the backward pass has no translation for (dropout,
 * other activations, ...) are reported, and the caller trains eagerly.
 */

/** What the backward pass of one layer yields: gradients for its inputs and its trainable weights. */
interface Backward {
  inputs: (GraphTensor | undefined)[];
  weights: [tf.LayerVariable, GraphTensor][];
}

interface Translated {
  output: GraphTensor;
  backward(dy: GraphTensor, needInput: boolean[]): Backward;
  /** New values of non-trainable state, e.g. BatchNorm's moving statistics. */
  updates?: [tf.LayerVariable, GraphTensor][];
}

interface TrainContext extends LayerContext {
  variable(name: string): tf.LayerVariable;
  trainable(name: string): boolean;
}

export type TrainTranslator = (layer: tf.layers.Layer, context: TrainContext) => Translated;

function unsupported(layer: tf.layers.Layer, detail: string): never {
  throw new UnsupportedLayerError(layer.name, layer.getClassName(), detail);
}

/** The activations the backward pass differentiates (Keras' serialised names). */
const DIFFERENTIATED = new Set(['linear', 'relu', 'relu6', 'sigmoid', 'swish', 'silu', 'hard_silu']);

/** Refuses, while the graph is built, an activation the backward pass cannot differentiate. */
function checkActivation(layer: tf.layers.Layer, kind: unknown): void {
  if (!DIFFERENTIATED.has(String(kind ?? 'linear'))) unsupported(layer, `uses activation ${JSON.stringify(kind)}, which the training graph does not differentiate`);
}

/** The gradient through an activation, given the activation's input `pre`, as TensorFlow's gradient registry writes it. */
function activationGrad(layer: tf.layers.Layer, g: GraphBuilder, kind: unknown, dy: GraphTensor, pre: GraphTensor): GraphTensor {
  checkActivation(layer, kind);
  const n = layer.name;
  switch (String(kind ?? 'linear')) {
    case 'relu':
      return g.op('ReluGrad', `${n}/relu_grad`, [dy, pre], { T });
    case 'relu6':
      return g.op('Relu6Grad', `${n}/relu6_grad`, [dy, pre], { T });
    case 'sigmoid':
      return g.op('SigmoidGrad', `${n}/sigmoid_grad`, [g.unary('Sigmoid', `${n}/sigmoid_of_pre`, pre), dy], { T });
    case 'swish':
    case 'silu': {
      // d(x s(x)) = s(x) + x s'(x)
      const sig = g.unary('Sigmoid', `${n}/sigmoid_of_pre`, pre);
      return g.binary('AddV2', `${n}/swish_grad`, g.binary('Mul', `${n}/swish_grad_s`, dy, sig), g.op('SigmoidGrad', `${n}/swish_grad_ds`, [sig, g.binary('Mul', `${n}/swish_grad_x`, dy, pre)], { T }));
    }
    case 'hard_silu': {
      // d(x relu6(x + 3) / 6) = relu6(x + 3) / 6 + x [0 < x + 3 < 6] / 6
      const plus3 = g.binary('AddV2', `${n}/grad_plus3`, pre, g.constFloat(`${n}/grad_three`, 3));
      const six = g.constFloat(`${n}/grad_six`, 6);
      const hardSigmoid = g.op('RealDiv', `${n}/grad_hard_sigmoid`, [g.unary('Relu6', `${n}/grad_relu6`, plus3), six], { T });
      const inner = g.op('Relu6Grad', `${n}/grad_relu6_grad`, [g.op('RealDiv', `${n}/grad_x6`, [g.binary('Mul', `${n}/grad_x`, dy, pre), six], { T }), plus3], { T });
      return g.binary('AddV2', `${n}/hard_silu_grad`, g.binary('Mul', `${n}/grad_hs`, dy, hardSigmoid), inner);
    }
    default:
      return dy;
  }
}

function checkConv(layer: tf.layers.Layer, config: Record<string, unknown>): void {
  const [dh, dw] = pair(config['dilationRate'] ?? 1, 'dilationRate');
  if (dh !== 1 || dw !== 1) unsupported(layer, 'is dilated, which the training graph does not differentiate');
}

/**
 * A convolution's input gradient from a forward convolution, where TensorFlow's own
 * Conv2DBackpropInput is wrong on this CPU: the layout kernel-fixes.ts uses eagerly, in graph ops.
 */
function inputGradByForwardConv(layer: tf.layers.Layer, g: GraphBuilder, dy: GraphTensor, kernel: GraphTensor, inShape: (number | null)[], kernelShape: [number, number, number, number], strides: [number, number], padding: 'same' | 'valid'): GraphTensor {
  const [, inH, inW, inC] = inShape;
  if (inH == null || inW == null || inC == null) unsupported(layer, 'needs an input gradient for an input of unknown size');
  const [kh, kw, , c] = kernelShape;
  const [sh, sw] = strides;
  const info = tf.backend_util.computeConv2DInfo([1, inH, inW, inC], kernelShape, strides, 1, padding);
  const [oh, ow] = [info.outHeight, info.outWidth];
  const { dilated, pads } = transposedConvLayout([inH, inW], [kh, kw], strides, [info.padInfo.top, info.padInfo.left], [oh, ow]);
  const n = layer.name;
  let spread = dy;
  if (sh > 1 || sw > 1) {
    const grid = g.op('Pad', `${n}/dilate`, [g.reshape(`${n}/dy_6d`, dy, [-1, oh, 1, ow, 1, c]), g.constInt(`${n}/dilate_pads`, [0, 0, 0, 0, 0, sh - 1, 0, 0, 0, sw - 1, 0, 0], [6, 2])], { T, Tpaddings: { type: DT_INT32 } });
    const flat = g.reshape(`${n}/dy_dilated`, grid, [-1, oh * sh, ow * sw, c]);
    spread = g.op('Slice', `${n}/dy_trimmed`, [flat, g.constInt(`${n}/trim_begin`, [0, 0, 0, 0]), g.constInt(`${n}/trim_size`, [-1, ...dilated, -1])], { T, Index: { type: DT_INT32 } });
  }
  const padded = g.op('Pad', `${n}/dy_padded`, [spread, g.constInt(`${n}/grad_pads`, [0, 0, ...pads[0], ...pads[1], 0, 0], [4, 2])], { T, Tpaddings: { type: DT_INT32 } });
  const flipped = g.op('Transpose', `${n}/kernel_flipped`, [g.op('ReverseV2', `${n}/kernel_reversed`, [kernel, g.constInt(`${n}/spatial_axes`, [0, 1])], { T, Tidx: { type: DT_INT32 } }), g.constInt(`${n}/swap_channels`, [0, 1, 3, 2])], { T, Tperm: { type: DT_INT32 } });
  const attrs = { T, strides: { list: { i: [1, 1, 1, 1] } }, dilations: { list: { i: [1, 1, 1, 1] } }, padding: { s: bytes('VALID') }, data_format: { s: bytes('NHWC') }, explicit_paddings: { list: { i: [] } }, use_cudnn_on_gpu: { b: true } };
  return g.op('Conv2D', `${n}/input_grad`, [padded, flipped], attrs);
}

/**
 * The gradients of a 1x1 convolution written as a matrix product (translate.ts): of the kernel,
 * rows^T x dy; of the input, dy x kernel^T, put back at the pixels the convolution read
 * (StridedSlice's gradient). `d` is the gradient at the output, before the bias.
 */
function conv1x1MatMulBackward(layer: tf.layers.Layer, { graph: g, inputs, config, variable, trainable }: TrainContext, form: Conv1x1MatMul, d: GraphTensor, kernelShape: readonly number[], needInput: boolean): Backward {
  const n = layer.name;
  const [, , cin, cout] = kernelShape as [number, number, number, number];
  const rows = g.reshape(`${n}/dy_rows`, d, [-1, cout]);
  const mm = (name: string, a: GraphTensor, b: GraphTensor, ta: boolean, tb: boolean) => g.op('MatMul', name, [a, b], { T, transpose_a: { b: ta }, transpose_b: { b: tb } });
  const weights: [tf.LayerVariable, GraphTensor][] = [];
  if (trainable('kernel')) weights.push([variable('kernel'), g.reshape(`${n}/kernel_grad`, mm(`${n}/kernel_grad_2d`, form.rows, rows, true, false), [...kernelShape])]);
  if (config['useBias'] !== false && trainable('bias')) weights.push([variable('bias'), g.op('BiasAddGrad', `${n}/bias_grad`, [d], { T, data_format: { s: bytes('NHWC') } })]);
  if (!needInput) return { inputs: [undefined], weights };
  const sampled = mm(`${n}/input_grad_2d`, rows, form.kernel2d, false, true);
  const sizes = g.op('Shape', `${n}/input_sizes`, [inputs[0]!], { T, out_type: { type: DT_INT32 } });
  if (!form.slice) return { inputs: [g.op('Reshape', `${n}/input_grad`, [sampled, sizes], { T, Tshape: { type: DT_INT32 } })], weights };
  const grid = g.reshape(`${n}/input_grad_sampled`, sampled, [-1, ...form.outSize, cin]);
  return { inputs: [g.op('StridedSliceGrad', `${n}/input_grad`, [sizes, ...form.slice, grid], SAMPLE_ATTRS)], weights };
}

/** Conv2D and DepthwiseConv2D: the kernel, an optional bias, an optional activation. */
const conv =
  (depthwise: boolean): TrainTranslator =>
  (layer, context) => {
    const { graph: g, inputs, inputShapes, config, variable, trainable } = context;
    checkConv(layer, config);
    checkActivation(layer, config['activation']);
    const { kernel, pre, output, attrs, matMul } = convForward(layer, context, depthwise);
    const opAttrs = depthwise ? attrs : { ...attrs, use_cudnn_on_gpu: { b: true } };
    const kernelName = depthwise ? 'depthwise_kernel' : 'kernel';
    const kernelShape = variable(kernelName).shape as [number, number, number, number];
    const [kh, kw, cin, cout] = kernelShape;
    const strides = pair(config['strides'] ?? 1, 'strides');
    const x = inputs[0]!;
    return {
      output,
      backward(dy, needInput) {
        const d = activationGrad(layer, g, config['activation'], dy, pre);
        if (matMul) return conv1x1MatMulBackward(layer, context, matMul, d, kernelShape, needInput[0] ?? false);
        const weights: [tf.LayerVariable, GraphTensor][] = [];
        if (trainable(kernelName)) {
          const sizes = g.constInt(`${layer.name}/filter_sizes`, kernelShape);
          weights.push([variable(kernelName), g.op(depthwise ? 'DepthwiseConv2dNativeBackpropFilter' : 'Conv2DBackpropFilter', `${layer.name}/kernel_grad`, [x, sizes, d], opAttrs)]);
        }
        if (config['useBias'] !== false && trainable('bias')) weights.push([variable('bias'), g.op('BiasAddGrad', `${layer.name}/bias_grad`, [d], { T, data_format: { s: bytes('NHWC') } })]);
        let dx: GraphTensor | undefined;
        if (needInput[0]) {
          const sizes = g.op('Shape', `${layer.name}/input_sizes`, [x], { T, out_type: { type: DT_INT32 } });
          if (depthwise) {
            dx = g.op('DepthwiseConv2dNativeBackpropInput', `${layer.name}/input_grad`, [sizes, kernel, d], attrs);
          } else if (kh === 1 && kw === 1 && strides[0] === 1 && strides[1] === 1) {
            // A 1x1 convolution is a matrix product over the pixels; so is its input gradient.
            const flat = g.reshape(`${layer.name}/dy_flat`, d, [-1, cout]);
            const w = g.reshape(`${layer.name}/kernel_2d`, kernel, [cin, cout]);
            const product = g.op('MatMul', `${layer.name}/input_grad_2d`, [flat, w], { T, transpose_a: { b: false }, transpose_b: { b: true } });
            dx = g.op('Reshape', `${layer.name}/input_grad`, [product, sizes], { T, Tshape: { type: DT_INT32 } });
          } else if (conv2dBackpropInputReplaced()) {
            dx = inputGradByForwardConv(layer, g, d, kernel, inputShapes[0]!, kernelShape, strides, config['padding'] as 'same' | 'valid');
          } else {
            dx = g.op('Conv2DBackpropInput', `${layer.name}/input_grad`, [sizes, kernel, d], opAttrs);
          }
        }
        return { inputs: [dx], weights };
      },
    };
  };

const dense: TrainTranslator = (layer, context) => {
  const { graph: g, inputs, config, variable, trainable } = context;
  checkActivation(layer, config['activation']);
  const { kernel, pre, output } = denseForward(layer, context);
  const x = inputs[0]!;
  return {
    output,
    backward(dy, needInput) {
      const d = activationGrad(layer, g, config['activation'], dy, pre);
      const weights: [tf.LayerVariable, GraphTensor][] = [];
      if (trainable('kernel')) weights.push([variable('kernel'), g.op('MatMul', `${layer.name}/kernel_grad`, [x, d], { T, transpose_a: { b: true }, transpose_b: { b: false } })]);
      if (config['useBias'] !== false && trainable('bias')) weights.push([variable('bias'), g.op('BiasAddGrad', `${layer.name}/bias_grad`, [d], { T, data_format: { s: bytes('NHWC') } })]);
      const dx = needInput[0] ? g.op('MatMul', `${layer.name}/input_grad`, [d, kernel], { T, transpose_a: { b: false }, transpose_b: { b: true } }) : undefined;
      return { inputs: [dx], weights };
    },
  };
};

const batchNormalization: TrainTranslator = (layer, context) => {
  const { graph: g, inputs, inputShapes, config, weight, variable, trainable } = context;
  const rank = inputShapes[0]?.length ?? 0;
  const axis = config['axis'];
  if (rank !== 4 || (axis !== -1 && axis !== 3) || config['center'] === false || config['scale'] === false) {
    unsupported(layer, 'is not a channels-last BatchNormalization of a 4-D input with centre and scale');
  }
  const n = layer.name;
  const x = inputs[0]!;
  const epsilon = Number(config['epsilon']);
  const [gamma, beta] = [weight('gamma'), weight('beta')];
  if (!layer.trainable) {
    // Keras' rule for a frozen BatchNorm: the moving statistics, also while training.
    const inv = g.binary('Mul', `${n}/scale`, g.unary('Rsqrt', `${n}/rsqrt`, g.binary('AddV2', `${n}/add_eps`, weight('moving_variance'), g.constFloat(`${n}/epsilon`, epsilon))), gamma);
    const offset = g.binary('Sub', `${n}/offset`, beta, g.binary('Mul', `${n}/mean_scaled`, weight('moving_mean'), inv));
    const output = g.binary('AddV2', n, g.binary('Mul', `${n}/mul`, x, inv), offset);
    return { output, backward: (dy, needInput) => ({ inputs: [needInput[0] ? g.binary('Mul', `${n}/input_grad`, dy, inv) : undefined], weights: [] }) };
  }
  const empty = g.op('Const', `${n}/empty`, [], { dtype: T, value: { tensor: { dtype: DT_FLOAT, tensorShape: { dim: [{ size: 0 }] }, tensorContent: new Uint8Array(0) } } });
  const bnAttrs = { T, U: T, epsilon: { f: epsilon }, data_format: { s: bytes('NHWC') }, is_training: { b: true } };
  const bn = g.op('FusedBatchNormV3', n, [x, gamma, beta, empty, empty], { ...bnAttrs, exponential_avg_factor: { f: 1 } });
  // batch_variance (output 2) is Bessel-corrected; the moving variance takes the biased one.
  const count = g.op('Cast', `${n}/count`, [g.op('Size', `${n}/size`, [x], { T, out_type: { type: DT_INT32 } })], { SrcT: { type: DT_INT32 }, DstT: T, Truncate: { b: false } });
  const perChannel = g.binary('Mul', `${n}/per_channel`, count, g.constFloat(`${n}/inv_channels`, 1 / Number(inputShapes[0]![3])));
  const unbias = g.op('RealDiv', `${n}/unbias`, [g.binary('Sub', `${n}/count_m1`, perChannel, g.constFloat(`${n}/one`, 1)), perChannel], { T });
  const variance = g.binary('Mul', `${n}/batch_variance`, `${bn}:2`, unbias);
  const decay = g.constFloat(`${n}/decay`, 1 - Number(config['momentum']));
  const moving = (name: string, batch: GraphTensor): [tf.LayerVariable, GraphTensor] => {
    const current = weight(name);
    return [variable(name), g.binary('Sub', `${n}/${name}_new`, current, g.binary('Mul', `${n}/${name}_step`, g.binary('Sub', `${n}/${name}_diff`, current, batch), decay))];
  };
  return {
    output: `${bn}:0`,
    updates: [moving('moving_mean', `${bn}:1`), moving('moving_variance', variance)],
    backward(dy) {
      const grad = g.op('FusedBatchNormGradV3', `${n}/grad`, [dy, x, gamma, `${bn}:3`, `${bn}:4`, `${bn}:5`], bnAttrs);
      const weights: [tf.LayerVariable, GraphTensor][] = [];
      if (trainable('gamma')) weights.push([variable('gamma'), `${grad}:1`]);
      if (trainable('beta')) weights.push([variable('beta'), `${grad}:2`]);
      return { inputs: [`${grad}:0`], weights };
    },
  };
};

/** Layers whose training forward pass is their inference one, with the gradient of their input. */
const sameForward =
  (backward: (layer: tf.layers.Layer, context: TrainContext, output: GraphTensor, dy: GraphTensor) => GraphTensor[]): TrainTranslator =>
  (layer, context) => {
    const translate = layerTranslators[layer.getClassName()];
    if (!translate) unsupported(layer, 'has no TensorFlow graph translation');
    const output = translate(layer, context);
    return { output, backward: (dy) => ({ inputs: backward(layer, context, output, dy), weights: [] }) };
  };

const relu = sameForward((layer, { graph: g, inputs, config }, _out, dy) => {
  const max = config['maxValue'];
  if (max === 6) return [g.op('Relu6Grad', `${layer.name}/grad`, [dy, inputs[0]!], { T })];
  if (max == null) return [g.op('ReluGrad', `${layer.name}/grad`, [dy, inputs[0]!], { T })];
  return unsupported(layer, `has maxValue ${String(max)}, which the training graph does not differentiate`);
});

const activationLayer: TrainTranslator = (layer, context) => {
  checkActivation(layer, context.config['activation']);
  return sameForward((l, { graph: g, inputs, config }, _out, dy) => [activationGrad(l, g, config['activation'], dy, inputs[0]!)])(layer, context);
};

const zeroPadding2d = sameForward((layer, { graph: g, inputShapes, config }, _out, dy) => {
  const p = config['padding'] as [[number, number], [number, number]];
  const [, h, w, c] = inputShapes[0] as [null, number, number, number];
  return [g.op('Slice', `${layer.name}/grad`, [dy, g.constInt(`${layer.name}/begin`, [0, p[0][0], p[1][0], 0]), g.constInt(`${layer.name}/size`, [-1, h, w, c])], { T, Index: { type: DT_INT32 } })];
});

const add = sameForward((_layer, { inputs }, _out, dy) => inputs.map(() => dy));

const globalAveragePooling2d = sameForward((layer, { graph: g, inputs, inputShapes }, _out, dy) => {
  // With or without keepDims, dy reshapes to [batch, 1, 1, c].
  const [, h, w, c] = inputShapes[0] as [null, number, number, number];
  const scaled = g.binary('Mul', `${layer.name}/grad_scaled`, dy, g.constFloat(`${layer.name}/inv_area`, 1 / (h * w)));
  const shape = g.op('Shape', `${layer.name}/input_shape`, [inputs[0]!], { T, out_type: { type: DT_INT32 } });
  return [g.op('BroadcastTo', `${layer.name}/grad`, [g.reshape(`${layer.name}/grad_4d`, scaled, [-1, 1, 1, c]), shape], { T, Tidx: { type: DT_INT32 } })];
});

const globalMaxPooling2d = sameForward((layer, { graph: g, inputs, inputShapes, config }, out, dy) => {
  if (config['keepDims'] === true) unsupported(layer, 'keeps dims, which the training graph does not differentiate');
  const c = (inputShapes[0] as number[])[3]!;
  // tfjs' and TensorFlow's rule: the gradient goes to every position that holds the maximum.
  const max = g.reshape(`${layer.name}/max_4d`, out, [-1, 1, 1, c]);
  const hit = g.op('Cast', `${layer.name}/mask`, [g.op('Equal', `${layer.name}/is_max`, [inputs[0]!, max], { T, incompatible_shape_error: { b: true } })], { SrcT: { type: DT_BOOL }, DstT: T, Truncate: { b: false } });
  return [g.binary('Mul', `${layer.name}/grad`, hit, g.reshape(`${layer.name}/grad_4d`, dy, [-1, 1, 1, c]))];
});

const reshapeBack = sameForward((layer, { graph: g, inputShapes }, _out, dy) => [g.reshape(`${layer.name}/grad`, dy, [-1, ...(inputShapes[0]!.slice(1) as number[])])]);

/**
 * Dropout at rate 0, or with a per-sample noise shape ([null, 1, 1, 1]: EfficientNet's stochastic
 * depth, which drops a block's whole residual branch per image): x * floor(u + keep) / keep with u
 * uniform from a stateless random op drawing from the layer's own fed seed stream
 * (`GraphBuilder.seed`), so a step is reproducible from its seed. Element-wise dropout stays eager: its masks are as large as
 * the activations, and the kit's graph-against-eager check could not compare them.
 */
const dropout: TrainTranslator = (layer, context) => {
  const rate = Number(context.config['rate'] ?? 0);
  if (rate === 0) return sameForward((_l, _c, _o, dy) => [dy])(layer, context);
  const noiseShape = context.config['noiseShape'] as (number | null)[] | undefined;
  const rank = context.inputShapes[0]?.length ?? 0;
  const perSample = Array.isArray(noiseShape) && noiseShape.length === rank && noiseShape[0] == null && noiseShape.slice(1).every((d) => d === 1);
  if (!perSample) unsupported(layer, 'drops units at random in training, which the training graph does not do');
  const { graph: g, inputs } = context;
  const n = layer.name;
  const x = inputs[0]!;
  const keep = 1 - rate;
  const batch = g.op('Slice', `${n}/batch`, [g.op('Shape', `${n}/shape`, [x], { T, out_type: { type: DT_INT32 } }), g.constInt(`${n}/batch_begin`, [0]), g.constInt(`${n}/batch_size`, [1])], { T: { type: DT_INT32 }, Index: { type: DT_INT32 } });
  const u = g.randomUniform(`${n}/uniform`, batch, g.seed(`${n}/drop`));
  const kept = g.unary('Floor', `${n}/kept`, g.binary('AddV2', `${n}/u_plus_keep`, u, g.constFloat(`${n}/keep`, keep)));
  const mask = g.reshape(`${n}/mask`, g.binary('Mul', `${n}/scaled`, kept, g.constFloat(`${n}/inv_keep`, 1 / keep)), [-1, ...Array<number>(rank - 1).fill(1)]);
  const output = g.binary('Mul', n, x, mask);
  return { output, backward: (dy) => ({ inputs: [g.binary('Mul', `${n}/grad`, dy, mask)], weights: [] }) };
};

/** Keras' Rescaling: the input gradient is dy * scale (summed over nothing: scale broadcasts). */
const rescaling = sameForward((layer, { graph: g, config }, _out, dy) => {
  const scale = config['scale'] as number | number[];
  return [g.binary('Mul', `${layer.name}/grad`, dy, g.constFloats(`${layer.name}/grad_scale`, Array.isArray(scale) ? scale : [scale]))];
});

/** Keras' Normalization: its state is not trained; the input gradient is dy / max(sqrt(variance), 1e-7). */
const normalization = sameForward((layer, { graph: g, weight }, _out, dy) => [g.op('RealDiv', `${layer.name}/grad`, [dy, normalizationScale(g, `${layer.name}/grad`, weight('variance'))], { T })]);

const scalarAdd = sameForward((_layer, _context, _out, dy) => [dy]);
const scalarMultiply = sameForward((layer, { graph: g, config }, _out, dy) => [g.binary('Mul', `${layer.name}/grad`, dy, g.constFloat(`${layer.name}/grad_value`, Number(config['value'])))]);

/**
 * Multiply of inputs that may broadcast (squeeze-and-excite: [b, h, w, c] * [b, 1, 1, c]): each
 * input's gradient is dy times the other inputs, summed over the axes it was broadcast along.
 */
const multiply = sameForward((layer, { graph: g, inputs, inputShapes }, _out, dy) => {
  const outShape = inputShapes.reduce((acc, shape) => acc.map((d, i) => (d === 1 ? shape[i]! : d)), inputShapes[0]!);
  return inputs.map((_x, i) => {
    const others = inputs.filter((_o, j) => j !== i);
    let grad = others.reduce((acc, o, k) => g.binary('Mul', `${layer.name}/grad${i}_${k}`, acc, o), dy);
    const axes = inputShapes[i]!.map((d, a) => (a > 0 && d === 1 && outShape[a] !== 1 ? a : -1)).filter((a) => a >= 0);
    if (axes.length) grad = g.reduce('Sum', `${layer.name}/grad${i}_sum`, grad, axes, true);
    return grad;
  });
});

const maxPooling2d = sameForward((layer, { graph: g, inputs, config }, out, dy) => {
  const [ph, pw] = pair(config['poolSize'], 'poolSize');
  const [sh, sw] = pair(config['strides'] ?? config['poolSize'], 'strides');
  const attrs = { T, ksize: { list: { i: [1, ph, pw, 1] } }, strides: { list: { i: [1, sh, sw, 1] } }, padding: { s: bytes(String(config['padding']).toUpperCase()) }, data_format: { s: bytes('NHWC') } };
  return [g.op('MaxPoolGrad', `${layer.name}/grad`, [inputs[0]!, out, dy], attrs)];
});

/**
 * Any other layer: its call traced in training mode under tfjs' gradient tape (trace.ts), so its
 * forward nodes come from its own tfjs ops and its backward nodes from tfjs' registered
 * gradients. Emitted on demand: an input gradient nobody needs adds no nodes.
 */
const traced: TrainTranslator = (layer, context) => {
  const trainableWeights = layer.weights.filter((w) => context.trainable(w.originalName.split('/').at(-1)!));
  const emitter = traceLayer(layer, context.inputShapes, { training: true, needInput: context.inputs.map(() => true), trainableWeights });
  let dy: GraphTensor | undefined;
  const result = emitter(context.graph, knownInputs(context, layer, () => dy), context.inputs[0]!);
  return {
    output: result('y'),
    backward(grad, needInput) {
      dy = grad;
      return {
        inputs: context.inputs.map((_x, i) => (needInput[i] ? result(`dx${i}`) : undefined)),
        weights: layer.weights.flatMap((w, i): [tf.LayerVariable, GraphTensor][] => (trainableWeights.includes(w) ? [[w, result(`dw${i}`)]] : [])),
      };
    },
  };
};

export const trainTranslators: Record<string, TrainTranslator> = {
  Conv2D: conv(false),
  DepthwiseConv2D: conv(true),
  Dense: dense,
  BatchNormalization: batchNormalization,
  ReLU: relu,
  Activation: activationLayer,
  ZeroPadding2D: zeroPadding2d,
  Add: add,
  GlobalAveragePooling2D: globalAveragePooling2d,
  GlobalMaxPooling2D: globalMaxPooling2d,
  Flatten: reshapeBack,
  Reshape: reshapeBack,
  Dropout: dropout,
  MaxPooling2D: maxPooling2d,
  Multiply: multiply,
  Rescaling: rescaling,
  Normalization: normalization,
  ScalarAdd: scalarAdd,
  ScalarMultiply: scalarMultiply,
};

export interface TrainGraph {
  nodes: NodeDef[];
  signature: Signature;
  /** Fed besides `input`, `labels`, `lr` (and `step`): signature input `w<i>` takes `feeds[i].read()`. */
  feeds: tf.LayerVariable[];
  /** Signature output `u<i>` is the new value of `updates[i]`. */
  updates: tf.LayerVariable[];
  /**
   * The optimiser's state: signature input `s<k>` takes slot `slots[k]` (zeros at first) and
   * output `n<k>` is its new value.
   */
  slots: { variable: tf.LayerVariable; slot: string }[];
  /** Whether signature input `step` (the 1-based count of updates, float32) is fed. */
  fedStep: boolean;
  /** Stream names of the fed seeds: signature input `seed<i>` takes `[seedKey(seed, seeds[i]), step - 1]`. */
  seeds: string[];
}

export interface TrainGraphOptions {
  /** The update rule and Keras' weight decay and clipping (default: plain SGD). */
  optimizer?: OptimizerSpec;
  /**
   * Keras' `CategoricalCrossentropy(label_smoothing)`: the one-hot labels become
   * `y * (1 - s) + s / classes` (default 0, sparse cross-entropy).
   */
  labelSmoothing?: number;
  /** Random flips and zooms of each batch, as graph ops (default none). */
  augment?: AugmentOptions;
}

/** The training step of `model` for `classes` classes as a graph; throws UnsupportedLayerError. */
export function buildTrainGraph(model: tf.LayersModel, classes: number, options: TrainGraphOptions = {}): TrainGraph {
  const optimizer = resolveOptimizer(options.optimizer ?? { name: 'sgd' });
  const smoothing = options.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing < 1)) throw new Error(`label smoothing must be in [0, 1), got ${smoothing}`);
  const { input, output } = singleInputOutput(model);
  const trainableSet = new Set(model.trainableWeights);
  const g = new GraphBuilder();
  const x = g.placeholder('input', input.shape);
  const labels = g.op('Placeholder', 'labels', [], { dtype: { type: DT_INT32 }, shape: { shape: { dim: [{ size: -1 }] } } });
  const lr = g.placeholder('lr', []);
  const images = augments(options.augment) ? augmentImages(g, x, input.shape, options.augment ?? {}) : x;

  /** Each layer call in forward order, with what its backward pass needs. */
  const steps: { translated: Translated; inputs: tf.SymbolicTensor[]; output: tf.SymbolicTensor }[] = [];
  /** Whether a tensor depends on a trainable weight (and so passes gradients back). */
  const needsGrad = new Map<number, boolean>([[input.id, false]]);
  const updates: [tf.LayerVariable, GraphTensor][] = [];
  const logits = translateCalls(output, new Map([[input.id, images]]), (call, inputs) => {
    const { layer } = call;
    // A layer without a hand-written training translation gets one traced from its call and tfjs' gradients (trace.ts).
    const translate = trainTranslators[layer.getClassName()] ?? traced;
    const translated = translate(layer, { ...contextOf(g, call, inputs), variable: call.variable, trainable: (name) => trainableSet.has(call.variable(name)) });
    steps.push({ translated, inputs: call.inputs, output: call.output });
    needsGrad.set(call.output.id, layer.weights.some((w) => trainableSet.has(w)) || call.inputs.some((t) => needsGrad.get(t.id)));
    updates.push(...(translated.updates ?? []));
    return translated.output;
  });
  if (output.shape.length !== 2 || output.shape[1] !== classes) {
    throw new UnsupportedLayerError(model.name, model.getClassName(), `outputs ${JSON.stringify(output.shape)}, not [batch, ${classes}] logits`);
  }

  // Loss and accuracy: sparse cross-entropy, or with smoothing Keras' dense one on smoothed one-hot labels.
  let ce: GraphTensor;
  if (smoothing > 0) {
    const off = Math.fround(smoothing / classes);
    const on = Math.fround(Math.fround(1 - smoothing) + off);
    const target = g.op('OneHot', 'labels_smoothed', [labels, g.constInt('class_count', [classes], []), g.scalar(on), g.scalar(off)], { T, TI: { type: DT_INT32 }, axis: { i: -1 } });
    ce = g.op('SoftmaxCrossEntropyWithLogits', 'cross_entropy', [logits, target], { T });
  } else {
    ce = g.op('SparseSoftmaxCrossEntropyWithLogits', 'cross_entropy', [logits, labels], { T, Tlabels: { type: DT_INT32 } });
  }
  const loss = g.reduce('Mean', 'loss', `${ce}:0`, [0], false);
  const batch = g.op('Cast', 'batch_size', [g.op('Size', 'labels_size', [labels], { T: { type: DT_INT32 }, out_type: { type: DT_INT32 } })], { SrcT: { type: DT_INT32 }, DstT: T, Truncate: { b: false } });
  const predicted = g.op('ArgMax', 'predicted', [logits, g.constInt('class_axis', [1], [])], { T, Tidx: { type: DT_INT32 }, output_type: { type: DT_INT32 } });
  const hits = g.op('Cast', 'hits', [g.op('Equal', 'is_hit', [predicted, labels], { T: { type: DT_INT32 }, incompatible_shape_error: { b: true } })], { SrcT: { type: DT_BOOL }, DstT: T, Truncate: { b: false } });
  const correct = g.reduce('Sum', 'correct', hits, [0], false);

  // Backward, in reverse order of the forward pass, summing where a tensor feeds several layers.
  const grads = new Map<number, GraphTensor[]>([[output.id, [g.op('RealDiv', 'logits_grad', [`${ce}:1`, batch], { T })]]]);
  const weightGrads = new Map<tf.LayerVariable, GraphTensor[]>();
  for (const step of [...steps].reverse()) {
    const parts = grads.get(step.output.id);
    if (!parts?.length || !needsGrad.get(step.output.id)) continue;
    const dy = parts.length === 1 ? parts[0]! : g.op('AddN', `${step.output.sourceLayer.name}/grad_sum`, parts, { T, N: { i: parts.length } });
    const back = step.translated.backward(
      dy,
      step.inputs.map((t) => needsGrad.get(t.id) === true),
    );
    back.inputs.forEach((d, i) => {
      const t = step.inputs[i]!;
      if (d && needsGrad.get(t.id)) grads.set(t.id, [...(grads.get(t.id) ?? []), d]);
    });
    for (const [v, d] of back.weights) weightGrads.set(v, [...(weightGrads.get(v) ?? []), d]);
  }

  // The optimiser, for every trainable weight (optimizers.ts: clipping, weight decay, the rule),
  // its slots fed in and returned; then the moving statistics.
  const { translator } = optimizer;
  const stepCount = translator.prepare ? g.placeholder('step', []) : undefined;
  const shared = stepCount && translator.prepare ? translator.prepare(graphOps(g, `optimizer/${optimizer.name}`), lr, stepCount, optimizer.options) : {};
  const slotNames = translator.slots(optimizer.options);
  const newValues: [tf.LayerVariable, GraphTensor][] = [];
  const slots: { placeholder: GraphTensor; next: GraphTensor; variable: tf.LayerVariable; slot: string }[] = [];
  for (const v of model.trainableWeights) {
    const parts = weightGrads.get(v);
    if (!parts) throw new UnsupportedLayerError(model.name, model.getClassName(), `got no gradient for trainable weight ${v.originalName}`);
    const grad = parts.length === 1 ? parts[0]! : g.op('AddN', `${v.originalName}/grad_sum`, parts, { T, N: { i: parts.length } });
    const state = slotNames.map((slot) => g.placeholder(`s${slots.length}_${slot}`, v.shape));
    const next = applyOptimizer(graphOps(g, `${v.originalName}/${optimizer.name}`), optimizer, { weight: g.weight(v), grad, slots: state, lr, shared });
    newValues.push([v, next.weight]);
    slotNames.forEach((slot, k) => slots.push({ placeholder: state[k]!, next: next.slots[k]!, variable: v, slot }));
  }
  newValues.push(...updates);

  const ref = (t: GraphTensor) => (t.includes(':') ? t : `${t}:0`);
  const signature: Signature = {
    inputs: {
      input: { name: `${x}:0`, dtype: DT_FLOAT, shape: input.shape },
      labels: { name: `${labels}:0`, dtype: DT_INT32, shape: [null] },
      lr: { name: `${lr}:0`, dtype: DT_FLOAT, shape: [] },
      ...(stepCount ? { step: { name: `${stepCount}:0`, dtype: DT_FLOAT, shape: [] } } : {}),
      ...weightInputs(g),
      ...seedInputs(g),
      ...Object.fromEntries(slots.map(({ placeholder, variable }, k) => [`s${k}`, { name: `${placeholder}:0`, dtype: DT_FLOAT, shape: variable.shape }])),
    },
    outputs: {
      loss: { name: `${loss}:0`, dtype: DT_FLOAT, shape: [] },
      correct: { name: `${correct}:0`, dtype: DT_FLOAT, shape: [] },
      ...Object.fromEntries(newValues.map(([v, t], i) => [`u${i}`, { name: ref(t), dtype: DT_FLOAT, shape: v.shape }])),
      ...Object.fromEntries(slots.map(({ next, variable }, k) => [`n${k}`, { name: ref(next), dtype: DT_FLOAT, shape: variable.shape }])),
    },
  };
  return {
    nodes: g.nodes,
    signature,
    feeds: g.feeds.map((f) => f.variable),
    updates: newValues.map(([v]) => v),
    slots: slots.map(({ variable, slot }) => ({ variable, slot })),
    fedStep: stepCount !== undefined,
    seeds: g.seeds.map((s) => s.name),
  };
}
