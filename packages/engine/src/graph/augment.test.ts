import { afterAll, describe, expect, it } from 'vitest';
import { tf } from '../runtime.js';
import { augments, buildAugmentGraph, type AugmentOptions } from './augment.js';
import { loadGraph, type GraphSession } from './session.js';
import { seedFeeds } from './train-step.js';
import { DT_FLOAT } from './saved-model.js';
import { GraphBuilder } from './translate.js';

const [N, H, W, C] = [6, 9, 11, 2];
const images = tf.randomUniform([N, H, W, C], -1, 1, 'float32', 3) as tf.Tensor4D;
const sessions: GraphSession[] = [];
afterAll(() => {
  sessions.forEach((s) => s.dispose());
  images.dispose();
});

async function augmenter(options: AugmentOptions) {
  const graph = buildAugmentGraph([null, H, W, C], options);
  const session = await loadGraph(graph.nodes, graph.signature);
  sessions.push(session);
  return (x: tf.Tensor4D, seed: number, iteration: number) => {
    const seeds = seedFeeds(graph.seeds, seed, iteration);
    const out = (session.predict({ input: x, ...seeds }) as tf.NamedTensorMap)['augmented'] as tf.Tensor4D;
    tf.dispose(Object.values(seeds));
    const values = out.arraySync();
    out.dispose();
    return values;
  };
}

/** The uniform draws a stream gives for a shape, seed and step: the same stateless op, alone. */
async function draws(stream: string, shape: number[], seed: number, iteration: number): Promise<number[][]> {
  const g = new GraphBuilder();
  const out = g.unary('Identity', 'draws', g.randomUniform('u', g.constInt('shape', shape), g.seed(stream)));
  const session = await loadGraph(g.nodes, { inputs: { seed0: { name: `${g.seeds[0]!.placeholder}:0`, dtype: 3, shape: [2] } }, outputs: { draws: { name: `${out}:0`, dtype: DT_FLOAT, shape } } });
  const seeds = seedFeeds([stream], seed, iteration);
  const t = (session.predict(seeds) as tf.NamedTensorMap)['draws'] as tf.Tensor;
  const values = t.reshape([shape[0]!, -1]).arraySync() as number[][];
  tf.dispose([t, ...Object.values(seeds)]);
  session.dispose();
  return values;
}

/** TensorFlow's REFLECT fill (image_ops.h MapCoordinate): [dcba|abcd|dcba], then clamped. */
function reflect(coordinate: number, length: number): number {
  let c = coordinate;
  if (c < 0) c = c < -length ? c + 2 * length : -c - 1;
  else if (c > length - 1) {
    c -= 2 * length * Math.trunc(c / (2 * length));
    if (c >= length) c = 2 * length - c - 1;
  }
  return Math.min(Math.max(c, 0), length - 1);
}

/** Bilinear sampling of one image at (x, y) as TensorFlow's ProjectiveGenerator does it. */
function sample(image: number[][][], x: number, y: number, channel: number): number {
  const read = (yy: number, xx: number) => (yy >= 0 && yy < H && xx >= 0 && xx < W ? image[yy]![xx]![channel]! : 0);
  const [x0, y0] = [Math.floor(x), Math.floor(y)];
  const top = (x0 + 1 - x) * read(y0, x0) + (x - x0) * read(y0, x0 + 1);
  const bottom = (x0 + 1 - x) * read(y0 + 1, x0) + (x - x0) * read(y0 + 1, x0 + 1);
  return (y0 + 1 - y) * top + (y - y0) * bottom;
}

const mirror = (image: number[][][]) => image.map((row) => [...row].reverse());
const maxDiff = (a: unknown[], b: unknown[]) => {
  const [fa, fb] = [a.flat(Infinity) as number[], b.flat(Infinity) as number[]];
  return fa.reduce((m, v, i) => Math.max(m, Math.abs(v - fb[i]!)), fa.length === fb.length ? 0 : Number.NaN);
};

describe('augmentation as graph ops', () => {
  it('does nothing unless asked', () => {
    expect(augments(undefined)).toBe(false);
    expect(augments({ flip: false, zoom: 0 })).toBe(false);
    expect(augments({ flip: true })).toBe(true);
    expect(augments({ zoom: 0.1 })).toBe(true);
  });

  it('flips each image or leaves it, by its draw; repeats for a seed and step and changes with either', async () => {
    const run = await augmenter({ flip: true });
    const input = images.arraySync();
    const out = run(images, 7, 0);
    const u = await draws('augment/flip', [N, 1, 1, 1], 7, 0);
    out.forEach((image, i) => expect(maxDiff(image, u[i]![0]! < 0.5 ? mirror(input[i]!) : input[i]!), `image ${i}`).toBe(0));
    expect(u.some((d) => d[0]! < 0.5) && u.some((d) => d[0]! >= 0.5)).toBe(true);
    expect(run(images, 7, 0)).toEqual(out);
    // Six fair coins: another step or seed flips another set (checked, not assumed, for these seeds).
    const flips = (seed: number, step: number) => run(images, seed, step).map((image, i) => maxDiff(image, input[i]!) > 0);
    expect(flips(7, 1)).not.toEqual(flips(7, 0));
    expect(flips(8, 0)).not.toEqual(flips(7, 0));
  });

  it('zooms each image by its draw about a random point, bilinear with reflected borders, as TensorFlow samples', async () => {
    const zoom = 0.3;
    const run = await augmenter({ zoom });
    const input = images.arraySync();
    const out = run(images, 11, 4);
    const u = await draws('augment/zoom', [N, 3], 11, 4);
    const scales = u.map(([d]) => 1 - zoom + 2 * zoom * d!);
    // Both zooming in and out among these draws, so both the crop and the reflection are checked.
    expect(scales.some((s) => s < 0.95) && scales.some((s) => s > 1.05)).toBe(true);
    out.forEach((image, i) => {
      const s = scales[i]!;
      const [tx, ty] = [u[i]![1]! * (1 - s) * (W - 1), u[i]![2]! * (1 - s) * (H - 1)];
      const expected = image.map((row, y) => row.map((pixel, x) => pixel.map((_, c) => sample(input[i]!, reflect(s * x + tx, W), reflect(s * y + ty, H), c))));
      expect(maxDiff(image, expected), `image ${i}, scale ${s.toFixed(3)}`).toBeLessThan(1e-5);
    });
  });

  it('flips, then zooms', async () => {
    const both = await augmenter({ flip: true, zoom: 0.2 });
    const zoomOnly = await augmenter({ zoom: 0.2 });
    const u = await draws('augment/flip', [N, 1, 1, 1], 5, 2);
    const flipped = tf.tidy(() => tf.stack(images.unstack().map((image, i) => (u[i]![0]! < 0.5 ? tf.reverse(image, 1) : image)))) as tf.Tensor4D;
    expect(maxDiff(both(images, 5, 2), zoomOnly(flipped, 5, 2))).toBeLessThan(1e-6);
    flipped.dispose();
  });
});
