import type { Dataset, File, Group } from 'h5wasm/node';
import { tf, UsageError } from '@headbench/core';
import { assignAll, formatShape, namedWeights, sameShape, type LoadTarget } from './assign.js';

type H5wasm = typeof import('h5wasm/node').default;

interface SavedLayer {
  name: string;
  datasets: { name: string; dataset: Dataset }[];
}

/**
 * Loads a Keras 2 legacy `save_weights` HDF5 file (the layout of Keras Applications' official
 * weight files) into `target.model` the way Keras does: by topology. The file's layers that have
 * weights are matched in order to the model's layers that have weights; names are not compared,
 * shapes are. Every check passes before the first weight is written.
 */
export async function loadKerasH5(file: string, target: LoadTarget): Promise<void> {
  const h5wasm = await loadH5wasm();
  const h5 = openH5(h5wasm, file);
  try {
    const saved = savedLayers(h5wasm, h5, file);
    const pairs = match(file, saved, target);
    tf.tidy(() => assignAll(pairs.map(({ variable, dataset }) => ({ variable, value: tf.tensor(readFloats(file, dataset), variable.shape as number[]) }))));
  } finally {
    h5.close();
  }
}

/** Imported on first use: h5wasm instantiates a 4 MB WebAssembly module, about half a second. */
async function loadH5wasm(): Promise<H5wasm> {
  const { default: h5wasm } = await import('h5wasm/node');
  // By default HDF5 errors are printed to stderr and the call returns an invalid handle; this
  // handler makes them JS errors instead (their message is that printout).
  (await h5wasm.ready).activate_throwing_error_handler();
  return h5wasm;
}

function openH5(h5wasm: H5wasm, file: string): File {
  try {
    const h5 = new h5wasm.File(file, 'r');
    if (h5.file_id < 0n) throw new Error('invalid file handle');
    return h5;
  } catch (error) {
    const reasons = [...String((error as Error)?.message ?? error).matchAll(/\(\): (.+)$/gm)].map((m) => m[1]);
    throw new UsageError(`weights ${file}: not a readable HDF5 file (${reasons.at(-1) ?? String(error)}); expected a Keras .h5 weights file or a TF.js layers model directory`);
  }
}

/** The file's layers that have weights, in file order, as Keras' `load_weights_from_hdf5_group` lists them. */
function savedLayers(h5wasm: H5wasm, h5: Group, file: string): SavedLayer[] {
  const layerNames = stringList(h5, 'layer_names', file);
  if (layerNames.length === 0) {
    throw new UsageError(
      `weights ${file}: no layer_names attribute, so not a Keras legacy weights file (model.save_weights("x.h5") in Keras 2, or the official keras-applications files); Keras 3 .weights.h5 files are not supported`,
    );
  }
  const saved: SavedLayer[] = [];
  for (const name of layerNames) {
    const group = h5.get(name);
    if (!(group instanceof h5wasm.Group)) throw new UsageError(`weights ${file}: layer_names lists "${name}" but the file has no group /${name}`);
    const weightNames = stringList(group, 'weight_names', file);
    if (weightNames.length === 0) continue;
    const datasets = weightNames.map((weightName) => {
      const dataset = group.get(weightName);
      if (!(dataset instanceof h5wasm.Dataset)) throw new UsageError(`weights ${file}: layer "${name}" lists weight ${weightName} but /${name}/${weightName} is not a dataset`);
      return { name: weightName, dataset };
    });
    saved.push({ name, datasets });
  }
  return saved;
}

function match(file: string, saved: SavedLayer[], { model, label, mismatchHint }: LoadTarget) {
  const layers = model.layers.filter((layer) => layer.weights.length > 0);
  if (layers.length !== saved.length) {
    const i = layers.findIndex((layer, k) => layer.name !== saved[k]?.name);
    const where = i === -1 ? `the file's extra layers start at "${saved[layers.length]?.name}"` : `first difference at position ${i + 1}: our "${layers[i]?.name}", the file's "${saved[i]?.name ?? '(none)'}"`;
    throw new UsageError(`weights ${file}: the file has weights for ${saved.length} layers but ${label} has ${layers.length} layers with weights (${where}); it is a weights file for another model`);
  }

  const pairs: { variable: tf.LayerVariable; dataset: Dataset }[] = [];
  for (const [k, layer] of layers.entries()) {
    const ours = namedWeights(layer);
    const theirs = saved[k] as SavedLayer;
    const pair = `our layer "${layer.name}" and the file's layer "${theirs.name}"`;
    if (ours.length !== theirs.datasets.length) {
      throw new UsageError(
        `weights ${file}: ${pair} (position ${k + 1}) differ in weight count: ours has ${ours.length} (${ours.map((w) => w.weight).join(', ')}), the file's has ${theirs.datasets.length} (${theirs.datasets.map((d) => d.name).join(', ')}); it is a weights file for another model`,
      );
    }
    for (const [i, { weight, variable }] of ours.entries()) {
      const { name, dataset } = theirs.datasets[i] as SavedLayer['datasets'][number];
      const shape = dataset.shape ?? [];
      if (!sameShape(variable.shape, shape)) {
        throw new UsageError(`weights ${file}: ${pair}: ${weight} is ${formatShape(variable.shape)} in ${label} but ${name} is ${formatShape(shape)} in the file. ${mismatchHint}`);
      }
      pairs.push({ variable, dataset });
    }
  }
  return pairs;
}

/**
 * A list of strings stored as an attribute, as Keras' `load_attributes_from_hdf5_group` reads it:
 * whole under `name`, or in chunks `name0`, `name1`, ... (Keras splits attributes above 64 kB).
 * Strings may be fixed or variable length; Keras writes a weightless layer's `weight_names` as an
 * empty float array.
 */
function stringList(owner: Group, name: string, file: string): string[] {
  const attrs = owner.attrs;
  const read = (key: string) => toStrings(attrs[key]?.value ?? null, `${owner.path === '/' ? '' : owner.path}@${key}`, file);
  if (name in attrs) return read(name);
  const out: string[] = [];
  for (let chunk = 0; `${name}${chunk}` in attrs; chunk++) out.push(...read(`${name}${chunk}`));
  return out;
}

function toStrings(value: unknown, where: string, file: string): string[] {
  // Fixed-length strings keep their NUL padding in some writers.
  const clean = (s: string) => s.replace(/\0+$/, '');
  if (value === null) return [];
  if (typeof value === 'string') return [clean(value)];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.map(clean);
  if (ArrayBuffer.isView(value) && (value as unknown as ArrayLike<unknown>).length === 0) return [];
  throw new UsageError(`weights ${file}: attribute ${where} should hold strings but holds ${Object.prototype.toString.call(value)}`);
}

function readFloats(file: string, dataset: Dataset): Float32Array {
  const value = dataset.value;
  if (value instanceof Float32Array) return value;
  if (value instanceof Float64Array) return Float32Array.from(value);
  // Normalization's `count` is an int64 scalar in Keras' files; tfjs keeps it as float32.
  if (value instanceof BigInt64Array || value instanceof BigUint64Array) return Float32Array.from(value, Number);
  if (typeof value === 'bigint') return Float32Array.of(Number(value));
  if (value instanceof Int32Array || value instanceof Uint32Array) return Float32Array.from(value);
  throw new UsageError(`weights ${file}: dataset ${dataset.path} has dtype ${JSON.stringify(dataset.dtype)}, expected float32`);
}
