import { conv1x1AsMatMul } from '../onednn/state.js';
import { tf } from '../runtime.js';
import { DT_FLOAT, DT_INT32, type Attr, type Signature } from './saved-model.js';
import { tracedInference } from './trace.js';

/**
 * Translates a tfjs-layers model into a TensorFlow inference graph: the layers' inference-mode
 * computation as TensorFlow ops, with every weight a placeholder that is fed the live
 * `tf.Variable` at each run (so the graph follows training without being rebuilt).
 *
 * One translator per layer class, like Keras' layer `call`s written in TensorFlow ops. A model
 * with a layer that has no translator is reported, not guessed at: the caller runs it eagerly.
 */

export { bytes, GraphBuilder, seedKey, T, UnsupportedLayerError, type Config, type GraphTensor, type LayerContext, type LayerTranslator } from './builder.js';
import { bytes, GraphBuilder, T, UnsupportedLayerError, type Config, type GraphTensor, type LayerContext, type LayerTranslator } from './builder.js';

// ---------------------------------------------------------------------------------------------
// Layer translators

export const pair = (v: unknown, what: string): [number, number] => {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((n) => typeof n === 'number')) return [v[0] as number, v[1] as number];
  throw new Error(`expected a number or a pair for ${what}, got ${JSON.stringify(v)}`);
};

function channelsLast(layer: tf.layers.Layer, config: Config): void {
  if (config['dataFormat'] !== undefined && config['dataFormat'] !== 'channelsLast') {
    throw new UnsupportedLayerError(layer.name, layer.getClassName(), `uses dataFormat ${String(config['dataFormat'])} (graphs are NHWC)`);
  }
}

/** Keras' activations by their serialized names; `linear` is none. */
export function activation(graph: GraphBuilder, name: string, x: GraphTensor, kind: unknown, layer: tf.layers.Layer): GraphTensor {
  switch (kind) {
    case undefined:
    case null:
    case 'linear':
      return x;
    case 'relu':
      return graph.unary('Relu', `${name}/relu`, x);
    case 'relu6':
      return graph.unary('Relu6', `${name}/relu6`, x);
    case 'sigmoid':
      return graph.unary('Sigmoid', `${name}/sigmoid`, x);
    case 'tanh':
      return graph.unary('Tanh', `${name}/tanh`, x);
    case 'softmax':
      return graph.unary('Softmax', `${name}/softmax`, x);
    case 'elu':
      return graph.unary('Elu', `${name}/elu`, x);
    case 'selu':
      return graph.unary('Selu', `${name}/selu`, x);
    case 'softplus':
      return graph.unary('Softplus', `${name}/softplus`, x);
    case 'softsign':
      return graph.unary('Softsign', `${name}/softsign`, x);
    case 'swish':
    case 'silu':
      return graph.binary('Mul', `${name}/swish`, x, graph.unary('Sigmoid', `${name}/sigmoid`, x));
    case 'hard_silu':
      return hardSilu(graph, name, x);
    default:
      throw new UnsupportedLayerError(layer.name, layer.getClassName(), `uses activation ${JSON.stringify(kind)}, which has no graph translation`);
  }
}

/** Keras' hard_silu as its TensorFlow backend computes it: x * (relu6(x + 3) / 6). */
export function hardSilu(graph: GraphBuilder, name: string, x: GraphTensor): GraphTensor {
  const relu6 = graph.unary('Relu6', `${name}/relu6`, graph.binary('AddV2', `${name}/plus3`, x, graph.constFloat(`${name}/three`, 3)));
  return graph.binary('Mul', `${name}/hard_silu`, x, graph.op('RealDiv', `${name}/hard_sigmoid`, [relu6, graph.constFloat(`${name}/six`, 6)], { T }));
}

/** A convolution's attributes from its layer config (strides, dilations, padding, NHWC). */
export function convAttrs(layer: tf.layers.Layer, config: Config): Record<string, Attr> {
  channelsLast(layer, config);
  const [sh, sw] = pair(config['strides'] ?? 1, 'strides');
  const [dh, dw] = pair(config['dilationRate'] ?? 1, 'dilationRate');
  const padding = config['padding'];
  if (padding !== 'same' && padding !== 'valid') throw new UnsupportedLayerError(layer.name, layer.getClassName(), `uses padding ${String(padding)}`);
  return {
    T,
    strides: { list: { i: [1, sh, sw, 1] } },
    dilations: { list: { i: [1, dh, dw, 1] } },
    padding: { s: bytes(padding.toUpperCase()) },
    data_format: { s: bytes('NHWC') },
    explicit_paddings: { list: { i: [] } },
  };
}

/**
 * The forward pass of a convolution or Dense layer, with what a backward pass needs: the
 * kernel, the value before the activation (`pre`) and the op's attributes.
 */
export interface KernelForward {
  kernel: GraphTensor;
  pre: GraphTensor;
  output: GraphTensor;
  attrs: Record<string, Attr>;
  /** A 1x1 convolution written as a matrix product (see `conv1x1MatMul`), with what its gradients reuse. */
  matMul?: Conv1x1MatMul;
}

/** A 1x1 convolution as a matrix product over the pixels it reads. */
export interface Conv1x1MatMul {
  /** The input's pixels as rows [pixels, in], the kernel as [in, out]. */
  rows: GraphTensor;
  kernel2d: GraphTensor;
  strides: [number, number];
  /** The output's static height and width. */
  outSize: [number, number];
  /** The StridedSlice's constant inputs (begin, end, strides), for its gradient; none at stride 1. */
  slice?: [GraphTensor, GraphTensor, GraphTensor];
}

/** StridedSlice's attributes for every row and column `stride` apart (all four dimensions masked in full). */
export const SAMPLE_ATTRS = { T, Index: { type: DT_INT32 }, begin_mask: { i: 15 }, end_mask: { i: 15 }, ellipsis_mask: { i: 0 }, new_axis_mask: { i: 0 }, shrink_axis_mask: { i: 0 } } as const;

/**
 * A 1x1 Conv2D as MatMul, where the oneDNN policy avoids oneDNN's convolution for its channels
 * (it dies there): every `stride`-th row and column (SAME and VALID agree for a 1x1 kernel),
 * reshaped to [pixels, in], times the kernel as [in, out]. Undefined for any other convolution,
 * or where the input's size is not static.
 */
function conv1x1MatMul(layer: tf.layers.Layer, { graph: g, inputs, inputShapes }: LayerContext, kernel: GraphTensor, kernelShape: readonly number[], config: Config): { y: GraphTensor; form: Conv1x1MatMul } | undefined {
  const [kh, kw, cin, cout] = kernelShape as [number, number, number, number];
  if (kh !== 1 || kw !== 1 || !conv1x1AsMatMul(cin, cout)) return undefined;
  const [, h, w] = inputShapes[0] ?? [];
  const [dh, dw] = pair(config['dilationRate'] ?? 1, 'dilationRate');
  if (h == null || w == null || dh !== 1 || dw !== 1) return undefined;
  const strides = pair(config['strides'] ?? 1, 'strides');
  const outSize: [number, number] = [Math.ceil(h / strides[0]), Math.ceil(w / strides[1])];
  const n = layer.name;
  let sampledInput = inputs[0]!;
  let slice: Conv1x1MatMul['slice'];
  if (strides[0] > 1 || strides[1] > 1) {
    slice = [g.constInt(`${n}/sample_begin`, [0, 0, 0, 0]), g.constInt(`${n}/sample_end`, [0, 0, 0, 0]), g.constInt(`${n}/sample_strides`, [1, strides[0], strides[1], 1])];
    sampledInput = g.op('StridedSlice', `${n}/sampled`, [sampledInput, ...slice], SAMPLE_ATTRS);
  }
  const rows = g.reshape(`${n}/rows`, sampledInput, [-1, cin]);
  const kernel2d = g.reshape(`${n}/kernel_2d`, kernel, [cin, cout]);
  const product = g.op('MatMul', `${n}/matmul`, [rows, kernel2d], { T, transpose_a: { b: false }, transpose_b: { b: false } });
  return { y: g.reshape(n, product, [-1, ...outSize, cout]), form: { rows, kernel2d, strides, outSize, ...(slice ? { slice } : {}) } };
}

function withBiasAndActivation(layer: tf.layers.Layer, { graph, config, weight }: LayerContext, y: GraphTensor): { pre: GraphTensor; output: GraphTensor } {
  const pre = config['useBias'] === false ? y : graph.biasAdd(`${layer.name}/bias_add`, y, weight('bias'));
  return { pre, output: activation(graph, layer.name, pre, config['activation'], layer) };
}

/** Conv2D (`depthwise` false) or DepthwiseConv2D: the convolution, an optional bias and activation. */
export function convForward(layer: tf.layers.Layer, context: LayerContext, depthwise: boolean): KernelForward {
  const { graph, inputs, config, weight } = context;
  if (!depthwise && Number(config['groups'] ?? 1) !== 1) throw new UnsupportedLayerError(layer.name, layer.getClassName(), 'uses groups');
  const attrs = convAttrs(layer, config);
  const kernel = weight(depthwise ? 'depthwise_kernel' : 'kernel');
  const matMul = depthwise ? undefined : conv1x1MatMul(layer, context, kernel, context.weightShape('kernel'), config);
  if (matMul) return { kernel, attrs, matMul: matMul.form, ...withBiasAndActivation(layer, context, matMul.y) };
  const y = depthwise ? graph.op('DepthwiseConv2dNative', layer.name, [inputs[0]!, kernel], attrs) : graph.op('Conv2D', layer.name, [inputs[0]!, kernel], { ...attrs, use_cudnn_on_gpu: { b: true } });
  return { kernel, attrs, ...withBiasAndActivation(layer, context, y) };
}

/** Dense on [batch, features]: the matrix product, an optional bias and activation. */
export function denseForward(layer: tf.layers.Layer, context: LayerContext): KernelForward {
  const { graph, inputs, inputShapes, weight } = context;
  if (inputShapes[0]?.length !== 2) throw new UnsupportedLayerError(layer.name, layer.getClassName(), `has a rank-${inputShapes[0]?.length} input (graphs take Dense on [batch, features])`);
  const kernel = weight('kernel');
  const attrs = { T, transpose_a: { b: false }, transpose_b: { b: false } };
  const y = graph.op('MatMul', layer.name, [inputs[0]!, kernel], attrs);
  return { kernel, attrs, ...withBiasAndActivation(layer, context, y) };
}

/** What an inference BatchNorm normalises with: fed weights, absent ones (scale or center off) undefined. */
export interface BatchNormParams {
  gamma?: GraphTensor;
  beta?: GraphTensor;
  mean: GraphTensor;
  variance: GraphTensor;
  epsilon: number;
}

/**
 * Inference BatchNorm as Keras computes it: x * inv + (beta - mean * inv) with
 * inv = gamma / sqrt(var + eps), a per-channel scale and offset on any rank (TensorFlow's fused
 * inference kernel was 2.5x slower on CPU, docs/performance.md). `name` is the output's node.
 */
export function batchNormScaleOffset(graph: GraphBuilder, name: string, x: GraphTensor, p: BatchNormParams): GraphTensor {
  const n = name;
  let inv = graph.unary('Rsqrt', `${n}/rsqrt`, graph.binary('AddV2', `${n}/add_eps`, p.variance, graph.constFloat(`${n}/epsilon`, p.epsilon)));
  if (p.gamma) inv = graph.binary('Mul', `${n}/scale`, inv, p.gamma);
  const shift = graph.binary('Mul', `${n}/mean_scaled`, p.mean, inv);
  const offset = p.beta ? graph.binary('Sub', `${n}/offset`, p.beta, shift) : graph.unary('Neg', `${n}/offset`, shift);
  return graph.binary('AddV2', n, graph.binary('Mul', `${n}/mul`, x, inv), offset);
}

/**
 * Inference BatchNorm. On a 4-D input it is written as TensorFlow's FusedBatchNormV3 in inference
 * mode, one node that says what it computes, so that the inference passes (fuse.ts) can fold it
 * into the convolution before it or rewrite it as `batchNormScaleOffset`; on other ranks it is
 * the scale and offset directly.
 */
const batchNormalization: LayerTranslator = (layer, { graph, inputs, inputShapes, config, weight }) => {
  const axis = config['axis'];
  const rank = inputShapes[0]?.length ?? 0;
  if (axis !== -1 && axis !== rank - 1) throw new UnsupportedLayerError(layer.name, layer.getClassName(), `normalises axis ${String(axis)} (graphs take the last axis)`);
  const params: BatchNormParams = {
    ...(config['scale'] !== false ? { gamma: weight('gamma') } : {}),
    ...(config['center'] !== false ? { beta: weight('beta') } : {}),
    mean: weight('moving_mean'),
    variance: weight('moving_variance'),
    epsilon: Number(config['epsilon']),
  };
  const channels = inputShapes[0]?.[rank - 1];
  if (rank !== 4 || channels == null) return batchNormScaleOffset(graph, layer.name, inputs[0]!, params);
  const gamma = params.gamma ?? graph.constFilled(`${layer.name}/ones`, channels, 1);
  const beta = params.beta ?? graph.constFilled(`${layer.name}/zeros`, channels, 0);
  return graph.op('FusedBatchNormV3', layer.name, [inputs[0]!, gamma, beta, params.mean, params.variance], {
    T,
    U: T,
    epsilon: { f: params.epsilon },
    exponential_avg_factor: { f: 1 },
    data_format: { s: bytes('NHWC') },
    is_training: { b: false },
  });
};

const relu: LayerTranslator = (layer, { graph, inputs, config }) => {
  const max = config['maxValue'];
  if (max === 6) return graph.unary('Relu6', layer.name, inputs[0]!);
  const y = graph.unary('Relu', layer.name, inputs[0]!);
  return max == null ? y : graph.binary('Minimum', `${layer.name}/max_value`, y, graph.constFloat(`${layer.name}/max`, Number(max)));
};

const zeroPadding2d: LayerTranslator = (layer, { graph, inputs, config }) => {
  channelsLast(layer, config);
  const p = config['padding'];
  const [[top, bottom], [left, right]] = Array.isArray(p) && Array.isArray(p[0]) ? (p as [[number, number], [number, number]]) : [pair(p, 'padding'), pair(p, 'padding')];
  const paddings = graph.constInt(`${layer.name}/paddings`, [0, 0, top, bottom, left, right, 0, 0], [4, 2]);
  return graph.op('Pad', layer.name, [inputs[0]!, paddings], { T, Tpaddings: { type: DT_INT32 } });
};

const merge =
  (op: 'AddV2' | 'Mul' | 'Maximum' | 'Minimum'): LayerTranslator =>
  (layer, { graph, inputs }) =>
    inputs.slice(1).reduce((acc, x, i) => graph.binary(op, i === inputs.length - 2 ? layer.name : `${layer.name}/${i}`, acc, x), inputs[0]!);

const globalPool =
  (op: 'Mean' | 'Max'): LayerTranslator =>
  (layer, { graph, inputs, config }) => {
    channelsLast(layer, config);
    return graph.reduce(op, layer.name, inputs[0]!, [1, 2], config['keepDims'] === true);
  };

const pool =
  (op: 'MaxPool' | 'AvgPool'): LayerTranslator =>
  (layer, { graph, inputs, config }) => {
    channelsLast(layer, config);
    const [ph, pw] = pair(config['poolSize'], 'poolSize');
    const [sh, sw] = pair(config['strides'] ?? config['poolSize'], 'strides');
    const padding = String(config['padding']).toUpperCase();
    return graph.op(op, layer.name, [inputs[0]!], { T, ksize: { list: { i: [1, ph, pw, 1] } }, strides: { list: { i: [1, sh, sw, 1] } }, padding: { s: bytes(padding) }, data_format: { s: bytes('NHWC') } });
  };

const flatten: LayerTranslator = (layer, { graph, inputs, inputShapes }) => {
  const dims = inputShapes[0]!.slice(1);
  if (dims.some((d) => d == null)) throw new UnsupportedLayerError(layer.name, layer.getClassName(), 'flattens an input of unknown size');
  return graph.reshape(layer.name, inputs[0]!, [-1, dims.reduce<number>((p, d) => p * (d as number), 1)]);
};

const reshape: LayerTranslator = (layer, { graph, inputs, config }) => graph.reshape(layer.name, inputs[0]!, [-1, ...(config['targetShape'] as number[])]);

/** Layers that are the identity at inference. */
const identity: LayerTranslator = (layer, { graph, inputs }) => graph.unary('Identity', layer.name, inputs[0]!);

/** Keras' Rescaling: x * scale + offset (scale a number or one per channel). */
const rescaling: LayerTranslator = (layer, { graph, inputs, config }) => {
  const scale = config['scale'] as number | number[];
  const scaled = graph.binary('Mul', `${layer.name}/scale`, inputs[0]!, graph.constFloats(`${layer.name}/scale_value`, Array.isArray(scale) ? scale : [scale]));
  return graph.binary('AddV2', layer.name, scaled, graph.constFloat(`${layer.name}/offset`, Number(config['offset'] ?? 0)));
};

/** Keras' Normalization: (x - mean) / max(sqrt(variance), 1e-7), its state fed like any weight. */
export function normalizationScale(graph: GraphBuilder, name: string, variance: GraphTensor): GraphTensor {
  return graph.binary('Maximum', `${name}/std`, graph.unary('Sqrt', `${name}/sqrt`, variance), graph.constFloat(`${name}/epsilon`, 1e-7));
}

const normalization: LayerTranslator = (layer, { graph, inputs, weight }) =>
  graph.op('RealDiv', layer.name, [graph.binary('Sub', `${layer.name}/centred`, inputs[0]!, weight('mean')), normalizationScale(graph, layer.name, weight('variance'))], { T });

/** Keras 3's arithmetic operations with a constant (ScalarAdd, ScalarMultiply). */
const constantOp =
  (op: 'AddV2' | 'Mul'): LayerTranslator =>
  (layer, { graph, inputs, config }) =>
    graph.binary(op, layer.name, inputs[0]!, graph.constFloat(`${layer.name}/value`, Number(config['value'])));

/** Translators by tfjs class name (`layer.getClassName()`). */
export const layerTranslators: Record<string, LayerTranslator> = {
  Conv2D: (layer, context) => convForward(layer, context, false).output,
  DepthwiseConv2D: (layer, context) => convForward(layer, context, true).output,
  Dense: (layer, context) => denseForward(layer, context).output,
  BatchNormalization: batchNormalization,
  ReLU: relu,
  Activation: (layer, { graph, inputs, config }) => activation(graph, layer.name, inputs[0]!, config['activation'], layer),
  ZeroPadding2D: zeroPadding2d,
  Add: merge('AddV2'),
  Multiply: merge('Mul'),
  Maximum: merge('Maximum'),
  Minimum: merge('Minimum'),
  GlobalAveragePooling2D: globalPool('Mean'),
  GlobalMaxPooling2D: globalPool('Max'),
  MaxPooling2D: pool('MaxPool'),
  AveragePooling2D: pool('AvgPool'),
  Flatten: flatten,
  Reshape: reshape,
  Dropout: identity,
  SpatialDropout1D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
  Rescaling: rescaling,
  Normalization: normalization,
  ScalarAdd: constantOp('AddV2'),
  ScalarMultiply: constantOp('Mul'),
};

/** One call of a layer in the model, as the walk below hands it to a translator. */
export interface LayerCall {
  layer: tf.layers.Layer;
  inputs: tf.SymbolicTensor[];
  output: tf.SymbolicTensor;
  config: Config;
  /** The layer's weight by its own name (`kernel`, `gamma`, ...); refuses a name it lacks. */
  variable(name: string): tf.LayerVariable;
}

/** The model's one input and one output, or an UnsupportedLayerError. */
export function singleInputOutput(model: tf.LayersModel): { input: tf.SymbolicTensor; output: tf.SymbolicTensor } {
  const [input, ...moreInputs] = model.inputs;
  const [output, ...moreOutputs] = model.outputs;
  if (!input || !output || moreInputs.length > 0 || moreOutputs.length > 0) {
    throw new UnsupportedLayerError(model.name, model.getClassName(), `has ${model.inputs.length} inputs and ${model.outputs.length} outputs (graphs take one of each)`);
  }
  return { input, output };
}

/**
 * Translates the layer calls that `output` depends on, inputs first (so in topological order),
 * each once: `translate` gets the call and its inputs' graph tensors and returns its output's.
 * `known` holds the graph tensors of the model's inputs, and gathers every other one.
 */
export function translateCalls(output: tf.SymbolicTensor, known: Map<number, GraphTensor>, translate: (call: LayerCall, inputs: GraphTensor[]) => GraphTensor): GraphTensor {
  const resolve = (symbolic: tf.SymbolicTensor): GraphTensor => {
    const done = known.get(symbolic.id);
    if (done) return done;
    const layer = symbolic.sourceLayer;
    const node = layer.inboundNodes[symbolic.nodeIndex];
    if (!node) throw new UnsupportedLayerError(layer.name, layer.getClassName(), 'is not called in this model');
    if (node.outputTensors.length !== 1) throw new UnsupportedLayerError(layer.name, layer.getClassName(), 'has several outputs');
    const inputs = node.inputTensors.map(resolve);
    const byName = new Map(layer.weights.map((w) => [w.originalName.split('/').at(-1), w]));
    const variable = (name: string) => {
      const found = byName.get(name);
      if (!found) throw new UnsupportedLayerError(layer.name, layer.getClassName(), `has no weight named ${name}`);
      return found;
    };
    const out = translate({ layer, inputs: node.inputTensors, output: symbolic, config: layer.getConfig() as Config, variable }, inputs);
    known.set(symbolic.id, out);
    return out;
  };
  return resolve(output);
}

/** The context a layer translator gets for one call. */
export function contextOf(graph: GraphBuilder, call: LayerCall, inputs: GraphTensor[]): LayerContext {
  return {
    graph,
    inputs,
    inputShapes: call.inputs.map((t) => [...t.shape]),
    config: call.config,
    weight: (name) => graph.weight(call.variable(name)),
    weightShape: (name) => call.variable(name).shape as number[],
  };
}

/** Signature entries for the fed weights: `w<i>` takes `feeds[i].read()`. */
export function weightInputs(graph: GraphBuilder): Signature['inputs'] {
  return Object.fromEntries(graph.feeds.map(({ placeholder, variable }, i) => [`w${i}`, { name: `${placeholder}:0`, dtype: DT_FLOAT, shape: variable.shape }]));
}

/** A model translated for inference, before the passes of fuse.ts. */
export interface TranslatedInference {
  graph: GraphBuilder;
  /** The image placeholder and the output (`logits`, an Identity). */
  input: GraphTensor;
  logits: GraphTensor;
  inputShape: (number | null)[];
  outputShape: (number | null)[];
  /** The static shape of each layer call's output (batch null), by graph tensor. */
  shapes: Map<GraphTensor, (number | null)[]>;
}

/** The model's inference computation, layer by layer, with one input and one output `logits`. */
export function translateInference(model: tf.LayersModel): TranslatedInference {
  const { input, output } = singleInputOutput(model);
  const graph = new GraphBuilder();
  const placeholder = graph.placeholder('input', input.shape);
  const shapes = new Map<GraphTensor, (number | null)[]>([[placeholder, [...input.shape]]]);
  const last = translateCalls(output, new Map([[input.id, placeholder]]), (call, inputs) => {
    // A layer without a hand-written translation gets one traced from its call (trace.ts).
    const translate = layerTranslators[call.layer.getClassName()] ?? tracedInference;
    const out = translate(call.layer, contextOf(graph, call, inputs));
    shapes.set(out, [...call.output.shape]);
    return out;
  });
  const logits = graph.unary('Identity', 'logits', last);
  return { graph, input: placeholder, logits, inputShape: [...input.shape], outputShape: [...output.shape], shapes };
}
