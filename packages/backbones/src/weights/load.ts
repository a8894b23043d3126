import { stat } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '@headbench/core';
import type { LoadTarget } from './assign.js';
import { defaultSources, loadImagenet, type ImagenetSources } from './imagenet.js';
import { loadKerasH5 } from './keras-h5.js';
import { loadTfjsDir } from './tfjs-dir.js';

export const WEIGHTS_HELP = "'imagenet', 'none' (random, seeded) or the path of a TF.js layers model directory (model.json + shards) or of a Keras legacy .h5 weights file";

/**
 * Fills `target.model` as the `weights` option says and returns where the weights came from:
 * `random`, `imagenet (...)` or the absolute path of the file or directory. `imagenet` is
 * MobileNetV2's shape (its lookup in imagenet.ts) or the loader of another backbone's official file.
 */
export async function loadWeights(
  weights: string,
  target: LoadTarget,
  imagenet: { alpha: number; inputSize: number } | ((target: LoadTarget) => Promise<string>),
  sources: ImagenetSources = defaultSources(),
): Promise<string> {
  if (weights === 'none') return 'random';
  if (weights === 'imagenet') return typeof imagenet === 'function' ? imagenet(target) : loadImagenet(target, imagenet, sources);

  const where = path.resolve(weights);
  const info = await stat(where).catch(() => undefined);
  if (!info) throw new UsageError(`${target.label.split(' ')[0]}: weights=${weights}: ${where} does not exist; weights is ${WEIGHTS_HELP}`);
  if (info.isDirectory()) {
    await loadTfjsDir(where, target);
  } else if (path.basename(where) === 'model.json') {
    await loadTfjsDir(path.dirname(where), target);
  } else {
    await loadKerasH5(where, target);
  }
  return where;
}
