import { tf } from '../runtime.js';
import { DT_BOOL, DT_FLOAT, DT_INT32, shapeOf, type Attr, type DType } from './saved-model.js';
import { bytes, UnsupportedLayerError, type GraphBuilder, type GraphTensor, type LayerContext } from './builder.js';

/**
 * Graph translations derived from a layer's own `call()`, for layers without a hand-written one
 * (custom `tf.layers.Layer`s written with ordinary tfjs ops, and built-in layers that have no
 * entry in `layerTranslators`/`trainTranslators`).
 *
 * tfjs-node runs every kernel as a TensorFlow op by name, with attributes and input tensors,
 * through the backend's `executeSingleOutput`/`executeMultipleOutputs`. `recordOps` wraps those
 * two while the layer's call runs on real tensors, so each kernel becomes a GraphDef node: the
 * layer's inputs and weights map to the translator's graph tensors, tensors written from
 * JavaScript (axes, shapes, scalars, `ones(...)`) become constants. For training, the call runs
 * under tfjs' own gradient tape (`engine.gradients`) with a fed `dy`, so tfjs' registered
 * gradient functions run too, as more kernels, and are recorded the same way: the backward pass
 * is derived, not written.
 *
 * The call is traced twice, at two batch sizes and on different random data. What the two traces
 * must agree on is what the graph can follow: the same ops with the same attributes, wired the
 * same way; a constant that differs only where it holds the batch size (or a multiple of it: a
 * reshape to [batch * h * w, c]) becomes a computation from the input's batch at run time, a
 * constant that is one repeated value (`ones(x.shape)` in a gradient) becomes a `Fill`. Anything
 * else that differs (random ops, values read back in JavaScript, shapes chosen from the data) is
 * refused with an UnsupportedLayerError naming the op, and the model runs eagerly.
 */

/** One attribute as tfjs-node hands it to TensorFlow (`TFEOpAttr`). */
interface OpAttr {
  name: string;
  type: number;
  value: unknown;
}

interface TensorInfo {
  dataId: object;
  shape: number[];
  dtype: string;
}

/** Where an op's input comes from: an earlier op's output, a known tensor (input, weight, dy) or a constant. */
type Ref = { kind: 'op'; op: number; output: number } | { kind: 'known'; key: string } | { kind: 'const'; index: number };

interface Const {
  values: number[];
  shape: number[];
  dtype: string;
}

interface RecordedOp {
  op: string;
  attr: Record<string, Attr>;
  inputs: Ref[];
  /** The inputs' tfjs dtypes, for the attributes TensorFlow's eager runtime infers. */
  dtypes: string[];
  outputs: number;
}

interface Trace {
  ops: RecordedOp[];
  consts: Const[];
  /** The traced results (output, gradients) by key. */
  results: Map<string, Ref>;
}

interface Backend {
  binding: Record<string, number>;
  executeSingleOutput(name: string, attrs: OpAttr[], inputs: TensorInfo[]): TensorInfo;
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: TensorInfo[], numOutputs: number): TensorInfo[];
  readSync(dataId: object): ArrayLike<number>;
}

const DTYPES: Record<string, DType> = { float32: DT_FLOAT, int32: DT_INT32, bool: DT_BOOL };

function dtypeOf(name: string, dtype: string): DType {
  const d = DTYPES[dtype];
  if (d === undefined) throw new Error(`op ${name} uses dtype ${dtype}, which traced graphs do not take`);
  return d;
}

/** A tfjs-node attribute as a GraphDef attribute. */
function attrOf(backend: Backend, op: string, a: OpAttr): Attr {
  const b = backend.binding;
  const one = (v: unknown): Attr => {
    switch (a.type) {
      case b['TF_ATTR_STRING']:
        return { s: bytes(String(v)) };
      case b['TF_ATTR_INT']:
        return { i: Number(v) };
      case b['TF_ATTR_FLOAT']:
        return { f: Number(v) };
      case b['TF_ATTR_BOOL']:
        return { b: Boolean(v) };
      case b['TF_ATTR_TYPE']:
        if (![DT_FLOAT, DT_INT32, DT_BOOL].includes(Number(v) as DType)) throw new Error(`op ${op} has attribute ${a.name} of TensorFlow type ${String(v)}, which traced graphs do not take`);
        return { type: Number(v) as DType };
      case b['TF_ATTR_SHAPE']:
        return { shape: shapeOf(v as number[]) };
      default:
        throw new Error(`op ${op} has attribute ${a.name} of a kind traced graphs do not take`);
    }
  };
  if (Array.isArray(a.value) && a.type !== b['TF_ATTR_SHAPE']) {
    const items = a.value.map(one);
    if (a.type === b['TF_ATTR_INT']) return { list: { i: items.map((x) => (x as { i: number }).i) } };
    if (a.type === b['TF_ATTR_FLOAT']) return { list: { f: items.map((x) => (x as { f: number }).f) } };
    if (a.type === b['TF_ATTR_STRING']) return { list: { s: items.map((x) => (x as { s: Uint8Array }).s) } };
    if (a.type === b['TF_ATTR_TYPE']) return { list: { type: items.map((x) => (x as { type: DType }).type) } };
    throw new Error(`op ${op} has a list attribute ${a.name} of a kind traced graphs do not take`);
  }
  return one(a.value);
}

/**
 * Runs `fn` with the tensorflow backend's op execution recorded. `known` names the tensors that
 * are the graph's inputs (by data id); other tensors an op reads that no recorded op made are
 * constants, read at once (tfjs-node disposes its shape and axis tensors right after the op).
 * `results` then names the tensors the trace yields.
 */
function recordOps(known: Map<object, string>, fn: () => Map<string, TensorInfo>): Trace {
  const backend = tf.backend() as unknown as Backend;
  const made = new Map<object, { op: number; output: number }>();
  const consts: Const[] = [];
  const ops: RecordedOp[] = [];
  const original = backend.readSync.bind(backend);
  const readConst = (dataId: object) => original(dataId);
  const refOf = (t: TensorInfo, op: string): Ref => {
    const key = known.get(t.dataId);
    if (key !== undefined) return { kind: 'known', key };
    const source = made.get(t.dataId);
    if (source) return { kind: 'op', ...source };
    dtypeOf(op, t.dtype);
    consts.push({ values: Array.from(readConst(t.dataId)), shape: [...t.shape], dtype: t.dtype });
    return { kind: 'const', index: consts.length - 1 };
  };
  if (tf.getBackend() !== 'tensorflow' || typeof backend.executeSingleOutput !== 'function') throw new Error(`the backend is ${tf.getBackend()}, not tfjs-node's tensorflow`);
  const { executeSingleOutput, executeMultipleOutputs, readSync } = backend;
  const note = (op: string, attrs: OpAttr[], inputs: TensorInfo[], outputs: TensorInfo[]) => {
    const attr = Object.fromEntries(attrs.map((a) => [a.name, attrOf(backend, op, a)]));
    ops.push({ op, attr, inputs: inputs.map((t) => refOf(t, op)), dtypes: inputs.map((t) => t.dtype), outputs: outputs.length });
    outputs.forEach((t, output) => made.set(t.dataId, { op: ops.length - 1, output }));
  };
  let results: Map<string, TensorInfo>;
  const errors: Error[] = [];
  // A value read back in JavaScript from the inputs, weights or an op's output is data the graph cannot follow.
  backend.readSync = function (dataId) {
    if (known.has(dataId) || made.has(dataId)) errors.push(new Error('reads tensor values back in JavaScript (dataSync, arraySync, ...), which a graph cannot follow'));
    return readSync.call(this, dataId);
  };
  backend.executeSingleOutput = function (name, attrs, inputs) {
    let refs: Ref[] | undefined;
    try {
      refs = inputs.map((t) => refOf(t, name));
    } catch (e) {
      errors.push(e as Error);
    }
    const out = executeSingleOutput.call(this, name, attrs, inputs);
    if (refs) {
      try {
        ops.push({ op: name, attr: Object.fromEntries(attrs.map((a) => [a.name, attrOf(backend, name, a)])), inputs: refs, dtypes: inputs.map((t) => t.dtype), outputs: 1 });
        made.set(out.dataId, { op: ops.length - 1, output: 0 });
      } catch (e) {
        errors.push(e as Error);
      }
    }
    return out;
  };
  backend.executeMultipleOutputs = function (name, attrs, inputs, numOutputs) {
    const out = executeMultipleOutputs.call(this, name, attrs, inputs, numOutputs);
    try {
      note(name, attrs, inputs, out);
    } catch (e) {
      errors.push(e as Error);
    }
    return out;
  };
  try {
    results = fn();
  } finally {
    backend.executeSingleOutput = executeSingleOutput;
    backend.executeMultipleOutputs = executeMultipleOutputs;
    backend.readSync = readSync;
  }
  if (errors.length) throw errors[0]!;
  return { ops, consts, results: new Map([...results].map(([key, t]) => [key, refOf(t, 'the result')])) };
}

export type TraceMode = { training: false } | { training: true; needInput: boolean[]; trainableWeights: tf.LayerVariable[] };

/** Traces one call of `layer` on random inputs with `batch` rows: its output, and in training its gradients. */
function traceAt(layer: tf.layers.Layer, inputShapes: (number | null)[][], batch: number, seed: number, mode: TraceMode): Trace {
  let traced: Trace | undefined;
  // Every tensor of the trace is released here (the tidy returns nothing).
  tf.tidy(() => {
    const xs = inputShapes.map((shape, i) => {
      const dims = shape.map((d, a) => (a === 0 ? batch : d));
      if (dims.some((d) => d == null)) throw new UnsupportedLayerError(layer.name, layer.getClassName(), `has an input of unknown size ${JSON.stringify(shape)}, which a traced graph cannot take`);
      return tf.randomUniform(dims as number[], 0.1, 2, 'float32', seed + i);
    });
    const call = () => {
      const out = layer.call(xs.length === 1 ? xs[0]! : xs, { training: mode.training });
      if (Array.isArray(out)) throw new UnsupportedLayerError(layer.name, layer.getClassName(), 'has several outputs');
      return out;
    };
    const weights = layer.weights.map((w) => w.read());
    const before = weights.map((w) => w.dataId);
    const known = new Map<object, string>([...xs.map((x, i) => [x.dataId, `x${i}`] as const), ...weights.map((w, i) => [w.dataId, `w${i}`] as const)]);
    let trace: Trace;
    if (!mode.training) {
      trace = recordOps(known, () => new Map([['y', call()]]));
    } else {
      const yShape = tf.tidy(() => call().shape);
      const dy = tf.randomUniform(yShape, -1, 1, 'float32', seed + 100);
      known.set(dy.dataId, 'dy');
      const trainable = layer.weights.map((w) => mode.trainableWeights.includes(w));
      const wrt = [...xs.filter((_x, i) => mode.needInput[i]), ...weights.filter((_w, i) => trainable[i])];
      trace = recordOps(known, () => {
        const { value, grads } = tf.engine().gradients(call, wrt, dy, true);
        const results = new Map<string, TensorInfo>([['y', value]]);
        let k = 0;
        const missing = (what: string) => new UnsupportedLayerError(layer.name, layer.getClassName(), `gives no gradient for ${what} when traced`);
        xs.forEach((_x, i) => {
          if (!mode.needInput[i]) return;
          const g = grads[k++];
          if (!g) throw missing(`input ${i}`);
          results.set(`dx${i}`, g);
        });
        layer.weights.forEach((w, i) => {
          if (!trainable[i]) return;
          const g = grads[k++];
          if (!g) throw missing(`weight ${w.originalName}`);
          results.set(`dw${i}`, g);
        });
        return results;
      });
    }
    if (layer.weights.some((w, i) => w.read().dataId !== before[i])) throw new UnsupportedLayerError(layer.name, layer.getClassName(), 'assigns to its weights in its call, which a traced graph does not follow');
    traced = trace;
  });
  return traced!;
}

/** How a value differing between the two traces is computed at run time: a literal, or the batch size times k. */
type Element = { literal: number } | { batchTimes: number };

function elementOf(v1: number, v2: number, b1: number, b2: number): Element | undefined {
  if (v1 === v2) return { literal: v1 };
  if (Number.isInteger(v1) && v1 % b1 === 0 && (v1 / b1) * b2 === v2) return { batchTimes: v1 / b1 };
  return undefined;
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a, (_k, v: unknown) => (v instanceof Uint8Array ? Array.from(v) : v)) === JSON.stringify(b, (_k, v: unknown) => (v instanceof Uint8Array ? Array.from(v) : v));

/** The two batch sizes of a trace: small, prime, unlike the sizes of other dimensions. */
const BATCHES = [3, 5] as const;

/**
 * A layer's call as graph nodes: `traceLayer` traces it twice, checks that the traces agree, and
 * returns `emit`, which adds the nodes a result needs (`y`, `dx<i>`, `dw<i>`) to the graph, each
 * node once, given the graph tensors of the known inputs (`x<i>`, `w<i>`, `dy`).
 */
export function traceLayer(layer: tf.layers.Layer, inputShapes: (number | null)[][], mode: TraceMode) {
  const fail = (detail: string): never => {
    throw new UnsupportedLayerError(layer.name, layer.getClassName(), detail);
  };
  let t1: Trace;
  let t2: Trace;
  try {
    t1 = traceAt(layer, inputShapes, BATCHES[0], 1, mode);
    t2 = traceAt(layer, inputShapes, BATCHES[1], 7, mode);
  } catch (error) {
    if (error instanceof UnsupportedLayerError) throw error;
    return fail(`could not be traced into a graph: ${(error as Error).message.split('\n')[0]}`);
  }
  if (t1.ops.length !== t2.ops.length) fail(`runs different ops at batch sizes ${BATCHES.join(' and ')}, which a traced graph cannot follow`);
  // The constants as run-time values: equal, batch-shaped, or a repeated value of a batch-shaped shape.
  type Resolved = { kind: 'const'; c: Const } | { kind: 'elements'; shape: number[]; elements: Element[] } | { kind: 'fill'; dtype: string; value: number; dims: Element[] };
  const resolveConst = (i: number, j: number, consumer: string): Resolved => {
    const [a, b] = [t1.consts[i]!, t2.consts[j]!];
    if (a.dtype === b.dtype && sameJson(a.shape, b.shape) && sameJson(a.values, b.values)) return { kind: 'const', c: a };
    const why = `${consumer} takes a value made in JavaScript that differs between traces (random, read from the data, or shaped by the batch in a way the graph cannot follow)`;
    if (a.dtype !== b.dtype || a.shape.length !== b.shape.length) return fail(why);
    if (a.dtype === 'int32' && sameJson(a.shape, b.shape)) {
      const elements = a.values.map((v, k) => elementOf(v, b.values[k]!, BATCHES[0], BATCHES[1]));
      if (elements.every((e) => e) && a.shape.length <= 1) return { kind: 'elements', shape: a.shape, elements: elements as Element[] };
    }
    const uniform = (c: Const) => c.values.length > 0 && c.values.every((v) => v === c.values[0]);
    if (uniform(a) && uniform(b) && a.values[0] === b.values[0]) {
      const dims = a.shape.map((d, k) => elementOf(d, b.shape[k]!, BATCHES[0], BATCHES[1]));
      if (dims.every((e) => e)) return { kind: 'fill', dtype: a.dtype, value: a.values[0]!, dims: dims as Element[] };
    }
    return fail(why);
  };
  const compareRefs = (r1: Ref, r2: Ref, consumer: string): Ref | Resolved => {
    if (r1.kind !== r2.kind) return fail(`${consumer} is wired differently at batch sizes ${BATCHES.join(' and ')}`);
    if (r1.kind === 'const' && r2.kind === 'const') return resolveConst(r1.index, r2.index, consumer);
    if (!sameJson(r1, r2)) fail(`${consumer} is wired differently at batch sizes ${BATCHES.join(' and ')}`);
    return r1;
  };
  const plan = t1.ops.map((o1, k) => {
    const o2 = t2.ops[k]!;
    if (o1.op !== o2.op || o1.outputs !== o2.outputs) fail(`runs different ops at batch sizes ${BATCHES.join(' and ')}, which a traced graph cannot follow`);
    if (!sameJson(o1.attr, o2.attr)) fail(`op ${o1.op} has attributes that depend on the batch size`);
    return { op: o1.op, attr: o1.attr, dtypes: o1.dtypes, outputs: o1.outputs, inputs: o1.inputs.map((r, m) => compareRefs(r, o2.inputs[m]!, `op ${o1.op}`)) };
  });
  const results = new Map([...t1.results].map(([key, r]) => [key, compareRefs(r, t2.results.get(key)!, key === 'y' ? 'its output' : `its gradient ${key}`)]));

  /** Adds the nodes `key` needs; `known` maps x<i>, w<i> and dy to graph tensors, `batchOf` is a known tensor with the batch as its first dimension. */
  return (g: GraphBuilder, known: (key: string) => GraphTensor, batchOf: GraphTensor) => {
    const n = layer.name;
    const emitted = new Map<number, string>();
    let batch: GraphTensor | undefined;
    const batchSize = () =>
      (batch ??= g.op('StridedSlice', `${n}/traced/batch`, [g.op('Shape', `${n}/traced/shape`, [batchOf], { T: { type: DT_FLOAT }, out_type: { type: DT_INT32 } }), g.constInt(`${n}/traced/b0`, [0]), g.constInt(`${n}/traced/b1`, [1]), g.constInt(`${n}/traced/b2`, [1])], {
        T: { type: DT_INT32 },
        Index: { type: DT_INT32 },
        begin_mask: { i: 0 },
        end_mask: { i: 0 },
        ellipsis_mask: { i: 0 },
        new_axis_mask: { i: 0 },
        shrink_axis_mask: { i: 1 },
      }));
    const scalarOf = (e: Element, name: string): GraphTensor => {
      if ('literal' in e) return g.constInt(name, [e.literal], []);
      return e.batchTimes === 1 ? batchSize() : g.op('Mul', name, [batchSize(), g.constInt(`${name}/k`, [e.batchTimes], [])], { T: { type: DT_INT32 } });
    };
    const vectorOf = (elements: Element[], shape: number[], name: string): GraphTensor => {
      if (elements.every((e) => 'literal' in e)) return g.constInt(name, elements.map((e) => (e as { literal: number }).literal), shape);
      if (shape.length === 0) return scalarOf(elements[0]!, name);
      return g.op('Pack', name, elements.map((e, k) => scalarOf(e, `${name}/${k}`)), { T: { type: DT_INT32 }, N: { i: elements.length }, axis: { i: 0 } });
    };
    const valueOf = (r: Ref | Resolved): GraphTensor => {
      switch (r.kind) {
        case 'known':
          return known(r.key);
        case 'op': {
          const node = emit(r.op);
          return r.output === 0 ? node : `${node}:${r.output}`;
        }
        case 'const': {
          const c = 'c' in r ? r.c : t1.consts[r.index]!;
          const dtype = dtypeOf('a constant', c.dtype);
          const content = c.dtype === 'float32' ? new Uint8Array(Float32Array.from(c.values).buffer) : c.dtype === 'int32' ? new Uint8Array(Int32Array.from(c.values).buffer) : Uint8Array.from(c.values);
          return g.op('Const', `${n}/traced/const`, [], { dtype: { type: dtype }, value: { tensor: { dtype, tensorShape: shapeOf(c.shape), tensorContent: content } } });
        }
        case 'elements':
          return vectorOf(r.elements, r.shape, `${n}/traced/shape_value`);
        case 'fill': {
          const dtype = dtypeOf('a constant', r.dtype);
          const value = valueOf({ kind: 'const', c: { values: [r.value], shape: [], dtype: r.dtype } });
          return g.op('Fill', `${n}/traced/fill`, [vectorOf(r.dims, [r.dims.length], `${n}/traced/fill_dims`), value], { T: { type: dtype }, index_type: { type: DT_INT32 } });
        }
      }
    };
    function emit(k: number): string {
      const done = emitted.get(k);
      if (done) return done;
      const step = plan[k]!;
      const node = g.op(step.op, `${n}/traced/${step.op}`, step.inputs.map(valueOf), inferredAttrs(step.op, step.attr, step.dtypes));
      emitted.set(k, node);
      return node;
    }
    return (key: string): GraphTensor => {
      const r = results.get(key);
      if (!r) return fail(`has no traced result ${key}`);
      return valueOf(r);
    };
  };
}

/**
 * Attributes that TensorFlow's eager runtime infers from the inputs but a GraphDef must state:
 * `N` of the ops that take a list of inputs, and the types of ExpandDims (tfjs-node gives it none).
 */
function inferredAttrs(op: string, attr: Record<string, Attr>, dtypes: string[]): Record<string, Attr> {
  if ((op === 'AddN' || op === 'Pack' || op === 'ConcatV2') && !('N' in attr)) return { ...attr, N: { i: op === 'ConcatV2' ? dtypes.length - 1 : dtypes.length } };
  if (op === 'ExpandDims' && !('T' in attr)) return { ...attr, T: { type: dtypeOf(op, dtypes[0]!) }, Tdim: { type: dtypeOf(op, dtypes[1]!) } };
  return attr;
}

/** The keys of a layer's known inputs for `traceLayer`'s `emit`. */
export function knownInputs(context: LayerContext, layer: tf.layers.Layer, dy: () => GraphTensor | undefined = () => undefined): (key: string) => GraphTensor {
  const byVariable = new Map<string, tf.LayerVariable>(layer.weights.map((w, i) => [`w${i}`, w]));
  return (key) => {
    const grad = key === 'dy' ? dy() : undefined;
    if (grad !== undefined) return grad;
    if (key.startsWith('x')) return context.inputs[Number(key.slice(1))]!;
    const w = byVariable.get(key);
    if (w) return context.graph.weight(w);
    throw new UnsupportedLayerError(layer.name, layer.getClassName(), `traced a tensor ${key} it cannot feed`);
  };
}

/** The inference translation of a layer by tracing its call (translate.ts uses it for layers without an entry). */
export function tracedInference(layer: tf.layers.Layer, context: LayerContext): GraphTensor {
  const emit = traceLayer(layer, context.inputShapes, { training: false });
  return emit(context.graph, knownInputs(context, layer), context.inputs[0]!)('y');
}
