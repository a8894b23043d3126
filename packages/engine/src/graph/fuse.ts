import { tf } from '../runtime.js';
import { DT_FLOAT, type Attr, type NodeDef } from './saved-model.js';
import { batchNormScaleOffset, bytes, T, type BatchNormParams, type GraphBuilder, type GraphTensor } from './translate.js';

/**
 * Folding and fusion passes over a translated inference graph, before TensorFlow sees it. They
 * work on the graph's nodes, not on layers, so they serve every layer that translates to the
 * same TensorFlow ops (a BatchNormalization after any Conv2D or DepthwiseConv2D, a ZeroPadding2D
 * before any convolution), whichever backbone or head they belong to.
 *
 * - **BatchNorm folding.** An inference BatchNorm (`FusedBatchNormV3`, is_training false, as the
 *   translator writes it) whose input is a convolution's output (optionally through its bias),
 *   used by nothing else, becomes part of that convolution: kernel * inv and
 *   (bias - mean) * inv + beta with inv = gamma / sqrt(var + eps), then a BiasAdd. The folded
 *   weights are computed from the live variables: in JavaScript when a source variable has
 *   changed since the last run, and fed (`'fed'`), or by graph ops at every run (`'graph'`).
 *   Every other BatchNorm becomes a per-channel scale and offset (`batchNormScaleOffset`).
 * - **Padding into the convolution.** A constant spatial `Pad` whose only consumer is a VALID
 *   convolution becomes that convolution's padding: SAME where SAME pads the same way (as
 *   MobileNet's ZeroPadding2D before a strided convolution on an even size does), else
 *   EXPLICIT for a Conv2D (a depthwise convolution keeps its Pad then: see the pass).
 * - **Fused convolution.** Conv2D + BiasAdd [+ Relu | Relu6] as TensorFlow's `_FusedConv2D`
 *   (one kernel that applies the bias and activation while the output is in cache). TensorFlow's
 *   graph optimiser does the same where it recognises the pattern; writing it out does not
 *   depend on that.
 *
 * docs/performance.md says what each pass measured on this project's machine.
 */

export interface InferencePasses {
  /** Fold BatchNorms into convolutions: weights computed in JavaScript and fed, in graph ops, or not at all. */
  foldBatchNorm: 'fed' | 'graph' | false;
  /** Unfolded BatchNorms as TensorFlow's fused inference kernel instead of a scale and offset. */
  keepFusedBatchNorm: boolean;
  /** Spatial zero padding into the following VALID convolution. */
  mergePadding: boolean;
  /** Conv2D + BiasAdd [+ activation] written as `_FusedConv2D`. */
  fuseConv2D: boolean;
}

export const DEFAULT_PASSES: InferencePasses = { foldBatchNorm: 'fed', keepFusedBatchNorm: false, mergePadding: true, fuseConv2D: false };

/** Weights the graph takes that are computed from variables: signature inputs `names`, in `compute`'s order. */
export interface DerivedFeed {
  names: string[];
  sources: tf.LayerVariable[];
  /** The fed values from the sources' current values (called inside `tf.tidy`). */
  compute(values: tf.Tensor[]): tf.Tensor[];
}

/** What the passes changed, for tests and the docs. */
export interface PassReport {
  foldedBatchNorms: number;
  scaleOffsetBatchNorms: number;
  mergedPaddings: number;
  fusedConvolutions: number;
}

export interface PassResult {
  nodes: NodeDef[];
  /** Weights still fed directly, by placeholder. */
  feeds: { placeholder: GraphTensor; variable: tf.LayerVariable }[];
  /** Folded weights: placeholder names (in `DerivedFeed.compute`'s order) and how to compute them. */
  derived: { placeholders: GraphTensor[]; shapes: number[][]; feed: Omit<DerivedFeed, 'names'> }[];
  report: PassReport;
}

const nodeOf = (tensor: GraphTensor) => tensor.replace(/^\^/, '').split(':')[0]!;
const outputIndex = (tensor: GraphTensor) => Number(tensor.split(':')[1] ?? 0);

function readInts(node: NodeDef | undefined): number[] | undefined {
  const value = node?.op === 'Const' ? node.attr['value'] : undefined;
  if (!value || !('tensor' in value)) return undefined;
  const content = value.tensor.tensorContent;
  return Array.from(new Int32Array(content.buffer.slice(content.byteOffset, content.byteOffset + content.byteLength)));
}

/** SAME padding of one spatial dimension (before, after), as TensorFlow computes it. */
function samePadding(size: number, kernel: number, stride: number, dilation: number): [number, number] {
  const effective = (kernel - 1) * dilation + 1;
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effective - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/**
 * Applies the passes to `graph` (whose nodes `keep`, its inputs and outputs, stay as they are), given the static shapes of
 * the tensors that layers produce (`shapes`, batch dimension null). Returns the new node list
 * and feeds; `graph` itself is only appended to.
 */
export function applyPasses(graph: GraphBuilder, keep: readonly GraphTensor[], shapes: ReadonlyMap<GraphTensor, readonly (number | null)[]>, passes: InferencePasses = DEFAULT_PASSES): PassResult {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const fedBy = new Map(graph.feeds.map((f) => [f.placeholder, f.variable]));
  const removed = new Set<string>();
  const report: PassReport = { foldedBatchNorms: 0, scaleOffsetBatchNorms: 0, mergedPaddings: 0, fusedConvolutions: 0 };
  const derived: PassResult['derived'] = [];

  // Who reads each node's outputs (kept current as nodes are rewired).
  const readers = new Map<string, Set<NodeDef>>();
  const link = (node: NodeDef) => node.input.forEach((t) => (readers.get(nodeOf(t)) ?? readers.set(nodeOf(t), new Set()).get(nodeOf(t))!).add(node));
  const unlink = (node: NodeDef) => node.input.forEach((t) => readers.get(nodeOf(t))?.delete(node));
  graph.nodes.forEach(link);
  const kept = new Set(keep.map(nodeOf));
  const readersOf = (name: string) => [...(readers.get(name) ?? [])];
  /** Only `reader` reads `name`, and only its first output (not fetched either). */
  const soleReader = (name: string, reader: NodeDef) => !kept.has(name) && readersOf(name).every((r) => r === reader) && reader.input.filter((t) => nodeOf(t) === name).length === 1;
  const setInputs = (node: NodeDef, input: GraphTensor[]) => {
    unlink(node);
    node.input = input;
    link(node);
  };
  const replaceNode = (old: NodeDef, replacement: NodeDef) => {
    unlink(old);
    graph.nodes[graph.nodes.indexOf(old)] = replacement;
    byName.set(replacement.name, replacement);
    link(replacement);
  };
  /** Indexes the nodes appended to the graph from `start` on. */
  const adopt = (start: number) => {
    for (const node of graph.nodes.slice(start)) {
      byName.set(node.name, node);
      link(node);
    }
  };
  const remove = (node: NodeDef) => {
    unlink(node);
    removed.add(node.name);
  };
  /** A weight placeholder's variable when `reader` is its only reader (else folding would change another layer). */
  const ownWeight = (tensor: GraphTensor | undefined, reader: NodeDef): tf.LayerVariable | undefined => {
    if (tensor === undefined) return undefined;
    const variable = fedBy.get(nodeOf(tensor));
    return variable && soleReader(nodeOf(tensor), reader) ? variable : undefined;
  };

  if (passes.mergePadding) {
    for (const pad of [...graph.nodes]) {
      if (pad.op !== 'Pad' || removed.has(pad.name)) continue;
      const paddings = readInts(byName.get(nodeOf(pad.input[1]!)));
      const [conv, ...others] = readersOf(pad.name);
      if (!paddings || paddings.length !== 8 || !conv || others.length > 0 || !soleReader(pad.name, conv)) continue;
      if ((conv.op !== 'Conv2D' && conv.op !== 'DepthwiseConv2dNative') || conv.input[0] !== pad.name) continue;
      const padding = conv.attr['padding'];
      if (!padding || !('s' in padding) || new TextDecoder().decode(padding.s) !== 'VALID') continue;
      const [b0, b1, top, bottom, left, right, c0, c1] = paddings as [number, number, number, number, number, number, number, number];
      if (b0 || b1 || c0 || c1) continue;
      const shape = shapes.get(pad.input[0]!);
      const kernelShape = fedBy.get(nodeOf(conv.input[1]!))?.shape;
      const list = (name: string) => (conv.attr[name] as { list: { i: number[] } }).list.i;
      const [, sh, sw] = list('strides') as [number, number, number];
      const [, dh, dw] = list('dilations') as [number, number, number];
      let same = false;
      if (shape?.[1] != null && shape[2] != null && kernelShape?.[0] != null && kernelShape[1] != null) {
        const [st, sb] = samePadding(shape[1], kernelShape[0], sh, dh);
        const [sl, sr] = samePadding(shape[2], kernelShape[1], sw, dw);
        same = st === top && sb === bottom && sl === left && sr === right;
      }
      // A depthwise convolution keeps its Pad unless SAME pads alike: with oneDNN on, TensorFlow's
      // remapper fuses DepthwiseConv2dNative + BiasAdd (every folded BatchNorm adds one) into
      // _FusedDepthwiseConv2dNative without its explicit_paddings, and shape inference then
      // aborts the process (tensor_format.h "Invalid index from the dimension: 1, 0, H").
      if (!same && conv.op === 'DepthwiseConv2dNative') continue;
      const attr: Record<string, Attr> = same ? { padding: { s: bytes('SAME') } } : { padding: { s: bytes('EXPLICIT') }, explicit_paddings: { list: { i: paddings } } };
      conv.attr = { ...conv.attr, ...attr };
      setInputs(conv, [pad.input[0]!, ...conv.input.slice(1)]);
      remove(pad);
      report.mergedPaddings += 1;
    }
  }

  for (const bn of [...graph.nodes]) {
    if (bn.op !== 'FusedBatchNormV3' || removed.has(bn.name)) continue;
    const training = bn.attr['is_training'];
    if (training && 'b' in training && training.b) continue;
    // Only the normalised output may be read.
    if (readersOf(bn.name).some((r) => r.input.some((t) => nodeOf(t) === bn.name && outputIndex(t) !== 0))) continue;
    const [x, gammaIn, betaIn, meanIn, varianceIn] = bn.input as [GraphTensor, GraphTensor, GraphTensor, GraphTensor, GraphTensor];
    const epsilon = (bn.attr['epsilon'] as { f: number }).f;
    const param = (t: GraphTensor) => (fedBy.has(nodeOf(t)) ? t : undefined);
    const params: BatchNormParams = { mean: meanIn, variance: varianceIn, epsilon, ...(param(gammaIn) ? { gamma: gammaIn } : {}), ...(param(betaIn) ? { beta: betaIn } : {}) };
    const gamma = params.gamma ? ownWeight(gammaIn, bn) : undefined;
    const beta = params.beta ? ownWeight(betaIn, bn) : undefined;
    const mean = ownWeight(meanIn, bn);
    const variance = ownWeight(varianceIn, bn);

    // The convolution (and its bias) this BatchNorm can fold into.
    let producer = byName.get(nodeOf(x));
    let biasAdd: NodeDef | undefined;
    if (producer?.op === 'BiasAdd' && soleReader(producer.name, bn)) {
      biasAdd = producer;
      producer = byName.get(nodeOf(producer.input[0]!));
    }
    const conv = producer && (producer.op === 'Conv2D' || producer.op === 'DepthwiseConv2dNative') && soleReader(producer.name, biasAdd ?? bn) ? producer : undefined;
    const kernel = conv ? ownWeight(conv.input[1], conv) : undefined;
    const bias = biasAdd ? ownWeight(biasAdd.input[1], biasAdd) : undefined;
    const foldable =
      passes.foldBatchNorm && conv && kernel && mean && variance && (!params.gamma || gamma) && (!params.beta || beta) && (!biasAdd || bias) && outputIndex(x) === 0 && kernel.shape.length === 4;

    if (!foldable) {
      if (passes.keepFusedBatchNorm) continue;
      const start = graph.nodes.length;
      batchNormScaleOffset(graph, bn.name, x, params);
      // Its last node (the final AddV2) takes the BatchNorm's name, so the readers need no change.
      const add = graph.nodes.pop()!;
      adopt(start);
      replaceNode(bn, { ...add, name: bn.name });
      report.scaleOffsetBatchNorms += 1;
      continue;
    }

    const depthwise = conv.op === 'DepthwiseConv2dNative';
    const kernelShape = kernel.shape as number[];
    const channels = depthwise ? kernelShape[2]! * kernelShape[3]! : kernelShape[3]!;
    // Sources in a fixed order; absent ones (no gamma, beta or bias) are skipped.
    const sources = [kernel, mean, variance, ...(gamma ? [gamma] : []), ...(beta ? [beta] : []), ...(bias ? [bias] : [])];
    const has = { gamma: !!gamma, beta: !!beta, bias: !!bias };
    const kernelScaleShape = depthwise ? [1, 1, kernelShape[2]!, kernelShape[3]!] : [channels];

    let foldedKernel: GraphTensor;
    let foldedBias: GraphTensor;
    if (passes.foldBatchNorm === 'fed') {
      foldedKernel = graph.placeholder(`${conv.name}/folded_kernel`, kernelShape);
      foldedBias = graph.placeholder(`${bn.name}/folded_bias`, [channels]);
      derived.push({
        placeholders: [foldedKernel, foldedBias],
        shapes: [kernelShape, [channels]],
        feed: {
          sources,
          compute: (values) => {
            const [k, m, v, ...rest] = values as [tf.Tensor, tf.Tensor, tf.Tensor, ...tf.Tensor[]];
            const g = has.gamma ? rest.shift() : undefined;
            const b = has.beta ? rest.shift() : undefined;
            const c = has.bias ? rest.shift() : undefined;
            let inv = tf.rsqrt(tf.add(v, epsilon));
            if (g) inv = tf.mul(inv, g);
            const shifted = c ? tf.sub(c, m) : tf.neg(m);
            const offset = tf.mul(shifted, inv);
            return [tf.mul(k, tf.reshape(inv, kernelScaleShape)), b ? tf.add(offset, b) : offset];
          },
        },
      });
    } else {
      const n = bn.name;
      const start = graph.nodes.length;
      let inv = graph.unary('Rsqrt', `${n}/fold/rsqrt`, graph.binary('AddV2', `${n}/fold/add_eps`, varianceIn, graph.constFloat(`${n}/fold/epsilon`, epsilon)));
      if (params.gamma) inv = graph.binary('Mul', `${n}/fold/scale`, inv, gammaIn);
      const scale = depthwise ? graph.reshape(`${n}/fold/kernel_scale`, inv, kernelScaleShape) : inv;
      foldedKernel = graph.binary('Mul', `${conv.name}/fold/kernel`, conv.input[1]!, scale);
      const shifted = bias ? graph.binary('Sub', `${n}/fold/shift`, biasAdd!.input[1]!, meanIn) : graph.unary('Neg', `${n}/fold/shift`, meanIn);
      const offset = graph.binary('Mul', `${n}/fold/offset`, shifted, inv);
      foldedBias = params.beta ? graph.binary('AddV2', `${n}/fold/bias`, offset, betaIn) : offset;
      adopt(start);
    }

    setInputs(conv, [conv.input[0]!, foldedKernel]);
    if (biasAdd) remove(biasAdd);
    replaceNode(bn, { name: bn.name, op: 'BiasAdd', input: [conv.name, foldedBias], attr: { T, data_format: { s: bytes('NHWC') } } });
    report.foldedBatchNorms += 1;
  }

  if (passes.fuseConv2D) {
    for (const conv of [...graph.nodes]) {
      if (conv.op !== 'Conv2D' || removed.has(conv.name)) continue;
      const [biasAdd, ...others] = readersOf(conv.name);
      if (!biasAdd || others.length > 0 || biasAdd.op !== 'BiasAdd' || !soleReader(conv.name, biasAdd) || biasAdd.input[0] !== conv.name) continue;
      const [act, ...moreActs] = readersOf(biasAdd.name);
      const activation = act && moreActs.length === 0 && (act.op === 'Relu' || act.op === 'Relu6') && soleReader(biasAdd.name, act) ? act : undefined;
      const last = activation ?? biasAdd;
      const ops = ['BiasAdd', ...(activation ? [activation.op] : [])];
      const fused: NodeDef = {
        name: last.name,
        op: '_FusedConv2D',
        input: [conv.input[0]!, conv.input[1]!, biasAdd.input[1]!],
        attr: { ...conv.attr, TArgs: { list: { type: [DT_FLOAT] } }, num_args: { i: 1 }, fused_ops: { list: { s: ops.map(bytes) } }, epsilon: { f: 0 }, leakyrelu_alpha: { f: 0.2 } },
      };
      remove(conv);
      if (activation) remove(biasAdd);
      replaceNode(last, fused);
      report.fusedConvolutions += 1;
    }
  }

  // Drop what nothing reads any more: the folded weights' placeholders, constants of bare BatchNorms.
  for (let changed = true; changed; ) {
    changed = false;
    for (const node of graph.nodes) {
      if (removed.has(node.name) || kept.has(node.name) || readersOf(node.name).length > 0) continue;
      remove(node);
      changed = true;
    }
  }
  const nodes = graph.nodes.filter((n) => !removed.has(n.name));
  const feeds = graph.feeds.filter((f) => !removed.has(nodeOf(f.placeholder)));
  return { nodes, feeds, derived, report };
}
