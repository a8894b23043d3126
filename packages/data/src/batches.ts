import { tf } from '@headbench/engine';
import type { ImageSplit } from './dataset.js';

export interface ImageBatch {
  /** The split's image indices in this batch. */
  indices: Int32Array;
  /** Their rows, `indices.length * inputSize * inputSize * 3` bytes; valid until the next batch is asked for. */
  pixels: Uint8Array;
  labels: Int32Array;
}

/**
 * The batches of `split` in `order` (every `batchSize` indices, the last one shorter). Batch k+1
 * is read while the caller works on batch k: a streamed split's reads run on libuv's thread pool
 * during the training step. Two buffers are reused, so a batch's pixels must be copied (made
 * into a tensor) before the next is asked for.
 */
export async function* batches(split: ImageSplit, order: Int32Array, batchSize: number): AsyncGenerator<ImageBatch> {
  const rowBytes = split.inputSize * split.inputSize * 3;
  const steps = Math.ceil(order.length / batchSize);
  if (steps === 0) return;
  const buffers = [new Uint8Array(Math.min(batchSize, order.length) * rowBytes), new Uint8Array(Math.min(batchSize, order.length) * rowBytes)];
  const indicesOf = (k: number) => order.subarray(k * batchSize, Math.min((k + 1) * batchSize, order.length));
  let pending: Promise<Uint8Array> | undefined = split.read(indicesOf(0), buffers[0]);
  try {
    for (let k = 0; k < steps; k++) {
      const pixels = await (pending as Promise<Uint8Array>);
      pending = k + 1 < steps ? split.read(indicesOf(k + 1), buffers[(k + 1) % 2]) : undefined;
      const indices = indicesOf(k);
      yield { indices, pixels: pixels.subarray(0, indices.length * rowBytes), labels: Int32Array.from(indices, (i) => split.labels[i] as number) };
    }
  } finally {
    // Left early (a diverged run): the read in flight is not wanted, nor its failure.
    pending?.catch(() => undefined);
  }
}

/** A batch's pixels as a float32 `[B, S, S, 3]` tensor of values in [0, 255], and its labels. */
export function batchTensors(batch: ImageBatch, inputSize: number): { images: tf.Tensor4D; labels: tf.Tensor1D } {
  const n = batch.indices.length;
  // tfjs-node keeps the array it is given until the tensor is first used, so each batch gets its own.
  return { images: tf.tensor4d(new Float32Array(batch.pixels), [n, inputSize, inputSize, 3]), labels: tf.tensor1d(batch.labels, 'int32') };
}
