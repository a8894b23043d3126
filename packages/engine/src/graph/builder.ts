import { tf } from '../runtime.js';
import { DT_FLOAT, DT_INT32, shapeOf, type Attr, type NodeDef } from './saved-model.js';

// The graph-building vocabulary shared by the hand-written translators (translate.ts) and the
// traced ones (trace.ts): a file of its own so that neither imports the other's module.

/** A tensor of the graph being built: `node` or `node:index`. */
export type GraphTensor = string;

export type Config = Record<string, unknown>;

export interface LayerContext {
  graph: GraphBuilder;
  /** The layer's inputs as graph tensors, and their symbolic shapes. */
  inputs: GraphTensor[];
  inputShapes: (number | null)[][];
  config: Config;
  /** A weight of the layer by its own name (`kernel`, `gamma`, ...), fed at run time. */
  weight(name: string): GraphTensor;
  /** The shape of a weight of the layer by its own name. */
  weightShape(name: string): readonly number[];
}

export type LayerTranslator = (layer: tf.layers.Layer, context: LayerContext) => GraphTensor;

export class UnsupportedLayerError extends Error {
  constructor(
    readonly layer: string,
    readonly className: string,
    detail?: string,
  ) {
    super(`layer ${layer} (${className}) ${detail ?? 'has no TensorFlow graph translation'}`);
    this.name = 'UnsupportedLayerError';
  }
}

export const bytes = (text: string) => new TextEncoder().encode(text);

/**
 * The first half of a fed seed (`GraphBuilder.seed`): a 32-bit key from a step's seed and the
 * stream's name (FNV-1a over `<seed>/<name>`), so that streams are independent of each other.
 */
export function seedKey(seed: number, name: string): number {
  let hash = 0x811c9dc5;
  for (const byte of bytes(`${seed}/${name}`)) hash = Math.imul(hash ^ byte, 0x01000193);
  return hash | 0;
}
/** The `T` attribute of a float32 op. */
export const T = { type: DT_FLOAT } as const;

export class GraphBuilder {
  readonly nodes: NodeDef[] = [];
  /** Weights fed at run time: each placeholder and the variable whose value it takes. */
  readonly feeds: { placeholder: GraphTensor; variable: tf.LayerVariable }[] = [];
  /**
   * Per-step seeds fed at run time (see `seed`): each int32 [2] placeholder and its stream name.
   * Signature input `seed<i>` takes `seeds[i]`'s `[seedKey(run seed, name), step]`.
   */
  readonly seeds: { placeholder: GraphTensor; name: string }[] = [];
  private readonly taken = new Set<string>();
  private readonly fed = new Map<tf.LayerVariable, GraphTensor>();
  private readonly scalars = new Map<number, GraphTensor>();

  private unique(base: string): string {
    const clean = base.replace(/[^A-Za-z0-9_./-]/g, '_').replace(/^[^A-Za-z0-9.]/, 'n');
    let name = clean;
    for (let i = 1; this.taken.has(name); i++) name = `${clean}_${i}`;
    this.taken.add(name);
    return name;
  }

  /** Adds one op and returns its first output. */
  op(op: string, name: string, input: GraphTensor[], attr: Record<string, Attr> = {}): GraphTensor {
    const unique = this.unique(name);
    this.nodes.push({ name: unique, op, input, attr });
    return unique;
  }

  placeholder(name: string, shape: readonly (number | null)[]): GraphTensor {
    return this.op('Placeholder', name, [], { dtype: T, shape: { shape: shapeOf(shape) } });
  }

  constInt(name: string, values: readonly number[], shape: readonly number[] = [values.length]): GraphTensor {
    const tensor = { dtype: DT_INT32, tensorShape: shapeOf(shape), tensorContent: new Uint8Array(Int32Array.from(values).buffer) } as const;
    return this.op('Const', name, [], { dtype: { type: DT_INT32 }, value: { tensor } });
  }

  /** A float32 vector of `length` copies of `value`. */
  constFilled(name: string, length: number, value: number): GraphTensor {
    const tensor = { dtype: DT_FLOAT, tensorShape: shapeOf([length]), tensorContent: new Uint8Array(new Float32Array(length).fill(value).buffer) } as const;
    return this.op('Const', name, [], { dtype: T, value: { tensor } });
  }

  constFloat(name: string, value: number): GraphTensor {
    const tensor = { dtype: DT_FLOAT, tensorShape: shapeOf([]), tensorContent: new Uint8Array(Float32Array.of(value).buffer) } as const;
    return this.op('Const', name, [], { dtype: T, value: { tensor } });
  }

  /** A float32 constant of any shape (a scalar for one value). */
  constFloats(name: string, values: readonly number[], shape: readonly number[] = values.length === 1 ? [] : [values.length]): GraphTensor {
    const tensor = { dtype: DT_FLOAT, tensorShape: shapeOf(shape), tensorContent: new Uint8Array(Float32Array.from(values).buffer) } as const;
    return this.op('Const', name, [], { dtype: T, value: { tensor } });
  }

  /** A float32 scalar constant, one node per value however often it is used. */
  scalar(value: number): GraphTensor {
    let tensor = this.scalars.get(value);
    if (!tensor) {
      tensor = this.constFloat(`scalar_${this.scalars.size}`, value);
      this.scalars.set(value, tensor);
    }
    return tensor;
  }

  /**
   * A seed for TensorFlow's stateless random ops, fed at every step: an int32 [2] placeholder
   * that the training step (graph/train-step.ts) feeds with `[seedKey(seed, name), step]`, where
   * `seed` is the step's seed (a run derives it from the row's seed) and `step` counts its
   * updates from 0. So every random draw repeats exactly for a seed and differs from step to
   * step and from stream to stream. One stream per `name` (augmentation's `augment/flip`, a
   * layer's dropout mask, ...); asking twice for a name gives the same placeholder.
   */
  seed(name: string): GraphTensor {
    const known = this.seeds.find((s) => s.name === name);
    if (known) return known.placeholder;
    const placeholder = this.op('Placeholder', `seed/${name}`, [], { dtype: { type: DT_INT32 }, shape: { shape: shapeOf([2]) } });
    this.seeds.push({ placeholder, name });
    return placeholder;
  }

  /** Uniform float32 values in [0, 1) of a shape given as an int32 tensor, from a `seed` (Philox, StatelessRandomUniform). */
  randomUniform(name: string, shape: GraphTensor, seed: GraphTensor): GraphTensor {
    return this.op('StatelessRandomUniform', name, [shape, seed], { dtype: T, T: { type: DT_INT32 }, Tseed: { type: DT_INT32 } });
  }

  /** A placeholder fed with `variable` at each run (one per variable, however often used). */
  weight(variable: tf.LayerVariable): GraphTensor {
    let tensor = this.fed.get(variable);
    if (!tensor) {
      tensor = this.placeholder(`w${this.feeds.length}`, variable.shape);
      this.feeds.push({ placeholder: tensor, variable });
      this.fed.set(variable, tensor);
    }
    return tensor;
  }

  // Elementwise and common ops, float32.
  binary(op: 'AddV2' | 'Sub' | 'Mul' | 'RealDiv' | 'Pow' | 'Maximum' | 'Minimum', name: string, a: GraphTensor, b: GraphTensor): GraphTensor {
    return this.op(op, name, [a, b], { T });
  }

  unary(op: string, name: string, x: GraphTensor): GraphTensor {
    return this.op(op, name, [x], { T });
  }

  biasAdd(name: string, x: GraphTensor, bias: GraphTensor): GraphTensor {
    return this.op('BiasAdd', name, [x, bias], { T, data_format: { s: bytes('NHWC') } });
  }

  reduce(op: 'Mean' | 'Max' | 'Sum', name: string, x: GraphTensor, axes: number[], keepDims: boolean): GraphTensor {
    return this.op(op, name, [x, this.constInt(`${name}/axes`, axes)], { T, Tidx: { type: DT_INT32 }, keep_dims: { b: keepDims } });
  }

  reshape(name: string, x: GraphTensor, shape: number[]): GraphTensor {
    return this.op('Reshape', name, [x, this.constInt(`${name}/shape`, shape)], { T, Tshape: { type: DT_INT32 } });
  }
}

