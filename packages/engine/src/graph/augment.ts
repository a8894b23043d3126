import { DT_FLOAT, DT_INT32, type NodeDef, type Signature } from './saved-model.js';
import { bytes, GraphBuilder, T, type GraphTensor } from './translate.js';

/**
 * Random augmentation of a training batch as TensorFlow graph ops, drawn from the step's fed
 * seeds (`GraphBuilder.seed`), so a run repeats exactly and no image is augmented in JavaScript.
 * It runs on the preprocessed batch, inside the training graph (graph/train.ts) or, for the
 * eager step, as a graph of its own (`buildAugmentGraph`).
 */
export interface AugmentOptions {
  /** Mirror each image left to right with probability 1/2 (Keras' `RandomFlip("horizontal")`). */
  flip?: boolean;
  /**
   * Scale each image by a factor drawn uniformly from [1 - zoom, 1 + zoom] (Keras' `RandomZoom(zoom)`
   * with the width following the height) and place the scaled window at a random position: inside
   * the image when zooming in (a random crop, as Keras' `RandomCrop` chooses it, resized back to the
   * input size), around it when zooming out. Bilinear, with the borders filled by reflection as
   * `RandomZoom` does. 0 leaves the images alone.
   */
  zoom?: number;
}

/** Whether these options change anything. */
export const augments = (options: AugmentOptions | undefined): boolean => Boolean(options && (options.flip || (options.zoom ?? 0) > 0));

const INT = { type: DT_INT32 } as const;

/** The batch `x` ([batch, height, width, channels], height and width known) augmented. */
export function augmentImages(g: GraphBuilder, x: GraphTensor, shape: readonly (number | null)[], options: AugmentOptions): GraphTensor {
  const [, height, width] = shape;
  if (height == null || width == null) throw new Error(`augmentation needs images of known size, got [${shape.join(', ')}]`);
  const zoom = options.zoom ?? 0;
  if (!(zoom >= 0 && zoom < 1)) throw new Error(`augmentation zoom must be in [0, 1), got ${zoom}`);
  const batch = g.op('Slice', 'augment/batch', [g.op('Shape', 'augment/shape', [x], { T, out_type: INT }), g.constInt('augment/begin', [0]), g.constInt('augment/size', [1])], { T: INT, Index: INT });
  const shapeWith = (name: string, dims: number[]) => g.op('ConcatV2', name, [batch, g.constInt(`${name}/dims`, dims), g.constInt(`${name}/axis`, [0], [])], { N: { i: 2 }, T: INT, Tidx: INT });
  let y = x;
  if (options.flip) {
    const draw = g.randomUniform('augment/flip_draw', shapeWith('augment/flip_shape', [1, 1, 1]), g.seed('augment/flip'));
    const mask = g.op('Less', 'augment/flip_mask', [draw, g.scalar(0.5)], { T });
    const mirrored = g.op('ReverseV2', 'augment/mirrored', [y, g.constInt('augment/width_axis', [2])], { T, Tidx: INT });
    y = g.op('SelectV2', 'augment/flipped', [mask, mirrored, y], { T });
  }
  if (zoom > 0) {
    // Three draws per image: the scale, then where the window sits across and down.
    const draws = g.randomUniform('augment/zoom_draw', shapeWith('augment/zoom_shape', [3]), g.seed('augment/zoom'));
    const unpacked = g.op('Unpack', 'augment/zoom_draws', [draws], { T, num: { i: 3 }, axis: { i: 1 } });
    const [u, across, down] = [`${unpacked}:0`, `${unpacked}:1`, `${unpacked}:2`];
    const scale = g.binary('AddV2', 'augment/scale', g.scalar(1 - zoom), g.binary('Mul', 'augment/scale_offset', u, g.scalar(2 * zoom)));
    // Output pixel (x, y) samples the input at (scale * x + tx, scale * y + ty). With
    // tx = r * (1 - scale) * (width - 1) for r in [0, 1) the window stays inside the image when
    // scale < 1 and covers it when scale > 1; r = 1/2 is RandomZoom's centred window.
    const spare = g.binary('Sub', 'augment/spare', g.scalar(1), scale);
    const tx = g.binary('Mul', 'augment/tx', g.binary('Mul', 'augment/tx_range', spare, g.scalar(width - 1)), across);
    const ty = g.binary('Mul', 'augment/ty', g.binary('Mul', 'augment/ty_range', spare, g.scalar(height - 1)), down);
    const zero = g.op('ZerosLike', 'augment/zero', [scale], { T });
    const transforms = g.op('Pack', 'augment/transforms', [scale, zero, tx, zero, scale, ty, zero, zero], { T, N: { i: 8 }, axis: { i: 1 } });
    y = g.op('ImageProjectiveTransformV3', 'augment/zoomed', [y, transforms, g.constInt('augment/output_shape', [height, width]), g.scalar(0)], {
      dtype: T,
      interpolation: { s: bytes('BILINEAR') },
      fill_mode: { s: bytes('REFLECT') },
    });
  }
  return g.unary('Identity', 'augmented', y);
}

export interface AugmentGraph {
  nodes: NodeDef[];
  signature: Signature;
  /** Stream names of the fed seeds: signature input `seed<i>` takes `[seedKey(seed, seeds[i]), step]`. */
  seeds: string[];
}

/** Augmentation alone, for the eager step: input `input`, output `augmented`. */
export function buildAugmentGraph(shape: readonly (number | null)[], options: AugmentOptions): AugmentGraph {
  const g = new GraphBuilder();
  const x = g.placeholder('input', shape);
  const out = augmentImages(g, x, shape, options);
  return {
    nodes: g.nodes,
    signature: {
      inputs: { input: { name: `${x}:0`, dtype: DT_FLOAT, shape }, ...seedInputs(g) },
      outputs: { augmented: { name: `${out}:0`, dtype: DT_FLOAT, shape } },
    },
    seeds: g.seeds.map((s) => s.name),
  };
}

/** Signature entries for the fed seeds of a graph. */
export function seedInputs(g: GraphBuilder): Signature['inputs'] {
  return Object.fromEntries(g.seeds.map(({ placeholder }, i) => [`seed${i}`, { name: `${placeholder}:0`, dtype: DT_INT32, shape: [2] }]));
}
