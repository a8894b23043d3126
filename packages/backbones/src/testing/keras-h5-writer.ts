// Test helper: reads a Keras legacy weights file and writes variants of it, to check the reader
// against the layouts other Keras versions produce (and against broken files).
import h5wasm from 'h5wasm/node';

export interface SavedWeight {
  /** As in weight_names, e.g. `Conv1/kernel:0`. */
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface SavedLayer {
  name: string;
  weights: SavedWeight[];
}

type Group = InstanceType<typeof h5wasm.Group>;
type Dataset = InstanceType<typeof h5wasm.Dataset>;

export async function readLayers(file: string): Promise<SavedLayer[]> {
  await h5wasm.ready;
  const h5 = new h5wasm.File(file, 'r');
  try {
    const names = h5.attrs['layer_names']?.value as string[];
    return names.map((name) => {
      const group = h5.get(name) as Group;
      const weightNames = group.attrs['weight_names']?.value;
      const list = Array.isArray(weightNames) ? (weightNames as string[]) : [];
      return {
        name,
        weights: list.map((w) => {
          const dataset = group.get(w) as Dataset;
          return { name: w, shape: dataset.shape ?? [], data: dataset.value as Float32Array };
        }),
      };
    });
  } finally {
    h5.close();
  }
}

export interface WriteOptions {
  /** Split layer_names into this many attributes layer_names0, layer_names1, ... */
  chunks?: number;
  /** Variable-length strings (Keras 3's own writer) instead of fixed-length ones (h5py's default for Keras 2). */
  vlen?: boolean;
}

export async function writeLayers(file: string, layers: SavedLayer[], { chunks = 0, vlen = false }: WriteOptions = {}): Promise<void> {
  await h5wasm.ready;
  const h5 = new h5wasm.File(file, 'w');
  const strings = (owner: Group, name: string, values: string[]) => {
    const dtype = vlen ? 'S' : `S${Math.max(1, ...values.map((v) => v.length))}`;
    owner.create_attribute(name, values, [values.length], dtype);
  };
  try {
    const names = layers.map((l) => l.name);
    if (chunks > 0) {
      const size = Math.ceil(names.length / chunks);
      for (let i = 0; i < chunks; i++) strings(h5, `layer_names${i}`, names.slice(i * size, (i + 1) * size));
    } else {
      strings(h5, 'layer_names', names);
    }
    h5.create_attribute('backend', 'tensorflow', null, 'S10');
    h5.create_attribute('keras_version', '2.15.0', null, 'S6');
    for (const layer of layers) {
      const group = h5.create_group(layer.name);
      if (layer.weights.length === 0) {
        group.create_attribute('weight_names', new Float64Array(0), [0]);
        continue;
      }
      strings(group, 'weight_names', layer.weights.map((w) => w.name));
      for (const w of layer.weights) {
        const slash = w.name.lastIndexOf('/');
        if (slash > 0 && !group.get(w.name.slice(0, slash))) group.create_group(w.name.slice(0, slash));
        group.create_dataset({ name: w.name, data: w.data, shape: w.shape });
      }
    }
  } finally {
    h5.close();
  }
}
