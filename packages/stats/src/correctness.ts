import { createHash } from 'node:crypto';
import { UsageError } from '@headbench/errors';

/**
 * Which images of an evaluation split a row classified correctly, as a bitset in base64 (bit i of
 * byte i >> 3, least significant first): 10,000 images take 1,668 characters. `fingerprint`
 * identifies the split's images in their order, so two records are paired only when they speak of
 * the same images.
 */
export interface CorrectnessRecord {
  images: number;
  fingerprint: string;
  correct: string;
}

export function encodeCorrect(correct: ArrayLike<number | boolean>): string {
  const bytes = new Uint8Array(Math.ceil(correct.length / 8));
  for (let i = 0; i < correct.length; i++) if (correct[i]) bytes[i >> 3]! |= 1 << (i & 7);
  return Buffer.from(bytes).toString('base64');
}

export function decodeCorrect(record: CorrectnessRecord): Uint8Array {
  const bytes = Buffer.from(record.correct, 'base64');
  if (bytes.length !== Math.ceil(record.images / 8)) {
    throw new UsageError(`a per-image record of ${record.images} images holds ${bytes.length} bytes, expected ${Math.ceil(record.images / 8)}; the results file is damaged`);
  }
  const out = new Uint8Array(record.images);
  for (let i = 0; i < record.images; i++) out[i] = (bytes[i >> 3]! >> (i & 7)) & 1;
  return out;
}

/** A short hash of the ordered list of what identifies each evaluation image (file and label). */
export function fingerprintOf(items: readonly string[]): string {
  const hash = createHash('sha256');
  for (const item of items) hash.update(`${item}\n`);
  return `sha256:${hash.digest('hex').slice(0, 16)}`;
}

export function correctnessRecord(correct: ArrayLike<number | boolean>, fingerprint: string): CorrectnessRecord {
  return { images: correct.length, fingerprint, correct: encodeCorrect(correct) };
}
