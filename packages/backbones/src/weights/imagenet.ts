import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '@headbench/core';
import type { LoadTarget } from './assign.js';
import { download, sha256File } from './download.js';
import { loadKerasH5 } from './keras-h5.js';
import { loadTfjsDir } from './tfjs-dir.js';

/** Keras Applications trained one checkpoint per input size; other sizes get the 224 one, as in Keras. */
export const TRAINED_SIZES = [96, 128, 160, 192, 224] as const;

export const KERAS_BASE_URL = 'https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/';

/**
 * sha256 of the official files that could be checked. Keras itself passes no hash for these, so
 * only 0.35/224 is known (2,019,640 bytes, as quoted by third-party code that pins it).
 */
export const KNOWN_SHA256: Readonly<Record<string, string>> = {
  'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5': 'df1c3db1d0d9193719c4c70f707c56f7021f999f825bdc57454c275cf6def19f',
};

/** alpha as Keras writes it in file names, `str(float(alpha))`: 1.0, 0.35, 0.5, 1.3. */
export function kerasAlpha(alpha: number): string {
  return Number.isInteger(alpha) ? alpha.toFixed(1) : String(alpha);
}

export function trainedSize(inputSize: number): number {
  return (TRAINED_SIZES as readonly number[]).includes(inputSize) ? inputSize : 224;
}

export function kerasFileName(alpha: number, inputSize: number): string {
  return `mobilenet_v2_weights_tf_dim_ordering_tf_kernels_${kerasAlpha(alpha)}_${trainedSize(inputSize)}_no_top.h5`;
}

/** Where ImageNet weights are looked for, in order. */
export interface ImagenetSources {
  /** Folders that may hold the official Keras file. */
  dirs: string[];
  /** Where a downloaded file is kept (Keras' cache, unless HEADBENCH_WEIGHTS_DIR is set). */
  cacheDir: string;
  /** Holds `mobilenet_v2_<alpha>_224_no_top_tfjs/` for the alphas shipped with this package. */
  bundledDir: string;
  /** Keras' download folder; undefined to never download. */
  baseUrl: string | undefined;
}

export function defaultSources(env: NodeJS.ProcessEnv = process.env): ImagenetSources {
  const own = env['HEADBENCH_WEIGHTS_DIR'];
  const kerasHome = env['KERAS_HOME'];
  const kerasDirs = [...(kerasHome ? [path.join(kerasHome, 'models')] : []), path.join(os.homedir(), '.keras', 'models')];
  const dirs = [...(own ? [own] : []), ...kerasDirs];
  return {
    dirs,
    cacheDir: own ?? (kerasDirs[0] as string),
    bundledDir: fileURLToPath(new URL('../../weights/', import.meta.url)),
    baseUrl: KERAS_BASE_URL,
  };
}

/**
 * Loads ImageNet weights: the official Keras file from a local folder, else the TF.js copy
 * bundled for alpha 1.0 and 0.35, else the official file downloaded. Returns what was used.
 */
export async function loadImagenet(target: LoadTarget, { alpha, inputSize }: { alpha: number; inputSize: number }, sources = defaultSources()): Promise<string> {
  const fileName = kerasFileName(alpha, inputSize);
  const trained = `alpha ${kerasAlpha(alpha)}, ${trainedSize(inputSize)}-trained`;

  for (const dir of sources.dirs) {
    const file = path.join(dir, fileName);
    if (!existsSync(file)) continue;
    const hash = await sha256File(file);
    const expected = KNOWN_SHA256[fileName];
    if (expected && hash !== expected) {
      throw new UsageError(`mobilenetv2: ${file} has sha256 ${hash}, but Keras' ${fileName} has ${expected}; the file is damaged or not the official one: delete it (it will be looked for again) or replace it`);
    }
    await loadKerasH5(file, target);
    return `imagenet (keras h5, ${trained}, ${expected ? 'sha256 verified' : `sha256 ${hash} unverified`}: ${file})`;
  }

  const bundled = path.join(sources.bundledDir, `mobilenet_v2_${kerasAlpha(alpha)}_224_no_top_tfjs`);
  if (existsSync(path.join(bundled, 'model.json'))) {
    await loadTfjsDir(bundled, target);
    return `imagenet (bundled tfjs, alpha ${kerasAlpha(alpha)}, 224-trained)`;
  }

  let failure = 'downloads are off';
  if (sources.baseUrl) {
    const url = new URL(fileName, sources.baseUrl).href;
    const expectedHash = KNOWN_SHA256[fileName];
    const result = await download(url, path.join(sources.cacheDir, fileName), { ...(expectedHash ? { expectedHash } : {}), progress: process.stderr, label: fileName });
    if (result.ok) {
      if (!result.verified) {
        console.warn(`[headbench] mobilenetv2: downloaded ${fileName} has sha256 ${result.sha256}, which could not be verified (no published hash for it)`);
      }
      await loadKerasH5(result.file, target);
      return `imagenet (keras h5, ${trained}, downloaded, sha256 ${result.sha256} ${result.verified ? 'verified' : 'unverified'}: ${result.file})`;
    }
    failure = `download from ${url} failed: ${result.reason}`;
  }

  throw new UsageError(
    `mobilenetv2: no ImageNet weights for alpha ${kerasAlpha(alpha)} at ${inputSize} px. Put Keras' file ${fileName} ` +
      `into ${sources.dirs.join(' or ')} (${sources.dirs.length > 1 ? 'searched in that order; ' : ''}HEADBENCH_WEIGHTS_DIR adds a folder), ` +
      `from ${new URL(fileName, KERAS_BASE_URL).href}. Bundled weights cover alpha 1.0 and 0.35 only. ` +
      `Or use weights=none, or weights=<a TF.js layers model directory or Keras .h5 file>. (${failure})`,
  );
}
