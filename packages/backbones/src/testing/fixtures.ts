// Test helpers: the Keras reference fixtures (tools/keras-reference) and the shared data folder.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url));
export const KERAS_DIR = path.join(PACKAGE_DIR, 'fixtures', 'keras');
export const H5_FIXTURE_DIR = path.join(KERAS_DIR, 'mobilenetv2_0.35_96');

export interface CountsRow {
  total: number;
  trainable: number;
  nonTrainable: number;
}

export interface BaseRow extends CountsRow {
  alpha: number;
  size: number;
  layers: number;
  output: [number, number, number];
  frozen: CountsRow;
}

export interface HeadRow extends CountsRow {
  alpha: number;
  size: number;
  head: 'gap' | 'flatten';
  classes: number;
  headParams: number;
  frozen: CountsRow;
}

export interface LayerRow {
  index: number;
  name: string;
  className: string;
  inbound: string[];
  outputShape: (number | null)[];
  config: Record<string, unknown>;
  weights: { name: string; h5Name: string; shape: number[]; trainable: boolean }[];
}

const readJson = <J>(file: string): J => JSON.parse(readFileSync(file, 'utf8')) as J;

export const params = readJson<{ base: BaseRow[]; heads: HeadRow[] }>(path.join(KERAS_DIR, 'params.json'));
export const meta = readJson<{ layers: LayerRow[]; model: { alpha: number; size: number } }>(path.join(H5_FIXTURE_DIR, 'meta.json'));

/** A float32 little-endian fixture file as a Float32Array (copied, so it is aligned). */
export function readFloat32(name: string): Float32Array {
  const bytes = readFileSync(path.join(H5_FIXTURE_DIR, name));
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/**
 * The shared data folder (`shared/data`, beside the checkout): HEADBENCH_SHARED_DATA, else the
 * first ancestor of this package that has `shared/data/weights`. `dir` is undefined when there
 * is none, and `reason` says why, for the skipped tests' names.
 */
export function sharedData(): { dir?: string; reason: string } {
  const fromEnv = process.env['HEADBENCH_SHARED_DATA'];
  if (fromEnv) {
    return existsSync(path.join(fromEnv, 'weights')) ? { dir: fromEnv, reason: `HEADBENCH_SHARED_DATA=${fromEnv}` } : { reason: `skipped: HEADBENCH_SHARED_DATA=${fromEnv} has no weights folder` };
  }
  for (let dir = PACKAGE_DIR; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'shared', 'data');
    if (existsSync(path.join(candidate, 'weights'))) return { dir: candidate, reason: candidate };
    if (path.dirname(dir) === dir) return { reason: `skipped: no shared/data/weights beside any ancestor of ${PACKAGE_DIR}; set HEADBENCH_SHARED_DATA` };
  }
}

/** One sha256 over the bytes of all of a model's weights, to compare models quickly. */
export function weightsDigest(model: { weights: { read(): { dataSync(): ArrayLike<number> & ArrayBufferView } }[] }): string {
  const hash = createHash('sha256');
  for (const w of model.weights) {
    const data = w.read().dataSync();
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest('hex');
}
