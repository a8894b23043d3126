import fs from 'node:fs';
import { tf } from '@headbench/engine';
import { describeSystemError } from '@headbench/errors';
import { checkImageBytes, decodeErrorReason } from './image-check.js';

/** How images are resized to the input size (Keras' `interpolation` of `image_dataset_from_directory`). */
export type Interpolation = 'bilinear' | 'nearest';
export const INTERPOLATIONS: readonly Interpolation[] = ['bilinear', 'nearest'];

/**
 * The one decode and resize of headbench: every image of every dataset, in memory or streamed,
 * in the main thread or a decode worker, goes through this function, so both storages hold the
 * same bytes by construction.
 *
 * TensorFlow decodes (JPEG, PNG, BMP, GIF's first frame; grey and RGBA to RGB) and resizes as
 * TensorFlow 2's `tf.image.resize` does (half-pixel centres, no antialiasing), which is what
 * Keras' `image_dataset_from_directory` gives as float32. headbench keeps the result as uint8,
 * rounded half to even (TensorFlow's `Round`, NumPy's `round`): at most 0.5 from Keras' value
 * and unbiased, where a cast (which truncates) would be up to 1 lower, 0.5 on average.
 *
 * Throws what TensorFlow throws for a file that does not decode.
 */
export function decodeResize(bytes: Uint8Array, inputSize: number, interpolation: Interpolation): Uint8Array {
  const rounded = tf.tidy(() => {
    const decoded = tf.node.decodeImage(bytes, 3, 'int32', false) as tf.Tensor3D;
    const resized =
      interpolation === 'nearest'
        ? tf.image.resizeNearestNeighbor(decoded, [inputSize, inputSize], false, true).toFloat()
        : tf.image.resizeBilinear(decoded, [inputSize, inputSize], false, true);
    return tf.round(resized);
  });
  try {
    // Values are whole numbers in [0, 255]: the conversion to bytes is exact.
    return new Uint8Array(rounded.dataSync());
  } finally {
    rounded.dispose();
  }
}

/** What the cache records as the decoder: a cache made by another TensorFlow is decoded again. */
export function decoderIdentity(): string {
  const binding = (tf.backend() as unknown as { binding?: { TF_Version?: string } }).binding;
  return `tensorflow ${binding?.TF_Version ?? 'unknown'} decode_image, tf.image.resize with half-pixel centres, round half to even, uint8`;
}


/** A file's decode job failed because its row could not be written: the cache, not the image, is the problem. */
export class RowWriteError extends Error {
  override name = 'RowWriteError';
  constructor(
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads, decodes and resizes `file` and writes its row at `row` of the open cache file `fd`.
 * Returns why the file was skipped (it did not read or decode), or undefined when it was written;
 * a failed write throws a RowWriteError.
 */
export function decodeFileInto(file: string, fd: number, row: number, inputSize: number, interpolation: Interpolation): string | undefined {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (error) {
    return `it cannot be read: ${describeSystemError(error)}`;
  }
  // What TensorFlow would refuse is refused here, before its decoder prints to stderr (image-check.ts).
  const problem = checkImageBytes(data);
  if (problem) return problem;
  let pixels: Uint8Array;
  try {
    pixels = decodeResize(data, inputSize, interpolation);
  } catch (error) {
    return decodeErrorReason(error);
  }
  try {
    const written = fs.writeSync(fd, pixels, 0, pixels.length, row * pixels.length);
    if (written !== pixels.length) throw Object.assign(new Error(`wrote ${written} of ${pixels.length} bytes`), { code: 'ENOSPC' });
  } catch (error) {
    throw new RowWriteError((error as NodeJS.ErrnoException).code, error instanceof Error ? error.message : String(error));
  }
  return undefined;
}
