import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { tf, UsageError } from '@headbench/core';
import { assignAll, formatShape, namedWeights, sameShape, type LoadTarget } from './assign.js';

type WeightSpec = Parameters<typeof tf.io.decodeWeights>[1][number];

interface ModelJson {
  weightsManifest?: { paths: string[]; weights: WeightSpec[] }[];
}

/**
 * Loads a TF.js layers model's weights (`model.json` + shards) into `target.model` by name. The
 * file's topology is ignored: only names, shapes and values matter. Every model weight must get
 * a tensor and every tensor a weight, or nothing is loaded.
 */
export async function loadTfjsDir(dir: string, target: LoadTarget): Promise<void> {
  const specs: WeightSpec[] = [];
  const shards: Buffer[] = [];
  for (const group of await readManifest(dir)) {
    specs.push(...group.weights);
    for (const shard of group.paths) shards.push(await readShard(dir, shard));
  }

  const buffer = Buffer.concat(shards);
  let tensors: tf.NamedTensorMap;
  try {
    tensors = tf.io.decodeWeights(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength), specs);
  } catch (error) {
    throw new UsageError(`weights ${dir}: the shards do not hold the tensors model.json lists (${(error as Error).message})`);
  }

  try {
    assignAll(match(dir, tensors, target));
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

async function readManifest(dir: string): Promise<NonNullable<ModelJson['weightsManifest']>> {
  const file = path.join(dir, 'model.json');
  let json: ModelJson;
  try {
    json = JSON.parse(await readFile(file, 'utf8')) as ModelJson;
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read: ${(error as Error).message}`;
    throw new UsageError(`weights ${dir}: ${file} ${why}; a TF.js layers model directory holds model.json and its weight shards`);
  }
  if (!Array.isArray(json.weightsManifest)) throw new UsageError(`weights ${dir}: model.json has no weightsManifest; is it a TF.js layers model?`);
  return json.weightsManifest;
}

async function readShard(dir: string, shard: string): Promise<Buffer> {
  try {
    return await readFile(path.join(dir, shard));
  } catch (error) {
    throw new UsageError(`weights ${dir}: weight shard ${shard}, listed in model.json, cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

function match(dir: string, tensors: tf.NamedTensorMap, { model, label, mismatchHint }: LoadTarget) {
  const unused = new Set(Object.keys(tensors));
  const problems: string[] = [];
  const pairs: { variable: tf.LayerVariable; value: tf.Tensor }[] = [];
  let shapeMismatch = false;

  for (const { layer, weight, variable } of model.layers.flatMap(namedWeights)) {
    const name = `${layer}/${weight}`;
    const value = tensors[name];
    if (!value) {
      problems.push(`layer "${layer}" needs ${weight} ${formatShape(variable.shape)} but the file has no tensor ${name}`);
      continue;
    }
    unused.delete(name);
    if (!sameShape(variable.shape, value.shape)) {
      shapeMismatch = true;
      problems.push(`layer "${layer}" ${weight} is ${formatShape(variable.shape)} in ${label} but ${formatShape(value.shape)} in the file`);
      continue;
    }
    pairs.push({ variable, value });
  }
  for (const name of unused) {
    problems.push(`the file's tensor ${name} ${formatShape(tensors[name]?.shape ?? [])} belongs to no layer of ${label}`);
  }

  if (problems.length) {
    const shown = problems.slice(0, 3).join('; ') + (problems.length > 3 ? `; and ${problems.length - 3} more` : '');
    throw new UsageError(`weights ${dir} do not fit ${label}: ${shown}${shapeMismatch ? `. ${mismatchHint}` : ''}`);
  }
  return pairs;
}
