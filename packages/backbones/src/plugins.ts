import { readFileSync } from 'node:fs';
import { defineBackbone, tf, UsageError, type BackbonePlugin, type FeatureShape, type OptionsSchema, type UserOptions } from '@headbench/core';
import { efficientNetB0, featureShape as efficientNetShape } from './efficientnet.js';
import { featureShape as mobileNetV3Shape, mobileNetV3, type MobileNetV3Type } from './mobilenetv3.js';
import { featureShape as resNetShape, resNet50, type ResNetVersion } from './resnet.js';
import type { LoadTarget } from './weights/assign.js';
import { loadWeights, WEIGHTS_HELP } from './weights/load.js';
import { loadOfficialWeights, type KerasWeightFile } from './weights/official.js';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

const common = {
  weights: { type: 'string', default: 'imagenet', description: WEIGHTS_HELP },
  trainable: {
    type: 'boolean',
    default: true,
    description: 'false freezes the whole base; its BatchNorm layers then use their moving statistics, as in Keras',
  },
} as const satisfies OptionsSchema;

// ---------------------------------------------------------------------------------------------
// The official weight files, as Keras' architecture files name, place and hash them.

export const MOBILENET_V3_BASE_URL = 'https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/';
export const EFFICIENTNET_BASE_URL = 'https://storage.googleapis.com/keras-applications/';
export const RESNET_BASE_URL = 'https://storage.googleapis.com/tensorflow/keras-applications/resnet/';

/** mobilenet_v3.py's WEIGHTS_HASHES, the include_top=False entry (md5) of each model_name. */
export const MOBILENET_V3_HASHES: Readonly<Record<string, string>> = {
  'large_224_0.75_float': '40af19a13ebea4e2ee0c676887f69a2e',
  'large_224_1.0_float': '07fb09a5933dd0c8eaafa16978110389',
  'large_minimalistic_224_1.0_float': 'ec5221f64a2f6d1ef965a614bdae7973',
  'small_224_0.75_float': 'ebdb5cc8e0b497cd13a7c275d475c819',
  'small_224_1.0_float': 'd3e8ec802a04aa4fc771ee12a9a9b836',
  'small_minimalistic_224_1.0_float': 'cde8136e733e811080d9fcd8a252f7e4',
};

/** efficientnet.py's and resnet.py's WEIGHTS_HASHES, the include_top=False entries (md5). */
export const NOTOP_HASHES: Readonly<Record<string, string>> = {
  efficientnetb0: '50bc09e76180e00e4465e1a485ddc09d',
  resnet50: '4d473c1dd8becc155b73f8504c6f6626',
  resnet50v2: 'fac2f116257151a9d068a22e544a4917',
};

/** Keras formats alpha with `str(alpha)`: 1.0, 0.75. */
const pyFloat = (v: number) => (Number.isInteger(v) ? v.toFixed(1) : String(v));

export function mobileNetV3WeightFile(type: MobileNetV3Type, alpha: number, minimalistic: boolean): KerasWeightFile {
  const label = `mobilenetv3${type} alpha ${pyFloat(alpha)}${minimalistic ? ' minimalistic' : ''}`;
  if (minimalistic ? alpha !== 1 : alpha !== 0.75 && alpha !== 1) {
    throw new UsageError(`${label}: Keras publishes ImageNet weights for alpha 0.75 and 1.0, and for minimalistic only at alpha 1.0; use alpha=1.0, or weights=none`);
  }
  const modelName = `${type}${minimalistic ? '_minimalistic' : ''}_224_${pyFloat(alpha)}_float`;
  return { label, fileName: `weights_mobilenet_v3_${modelName}_no_top_v2.h5`, baseUrl: MOBILENET_V3_BASE_URL, hash: MOBILENET_V3_HASHES[modelName]! };
}

export function efficientNetWeightFile(): KerasWeightFile {
  return { label: 'efficientnetb0', fileName: 'efficientnetb0_notop.h5', baseUrl: EFFICIENTNET_BASE_URL, hash: NOTOP_HASHES['efficientnetb0']! };
}

export function resNetWeightFile(version: ResNetVersion): KerasWeightFile {
  const name = version === 'v1' ? 'resnet50' : 'resnet50v2';
  return { label: name, fileName: `${name}_weights_tf_dim_ordering_tf_kernels_notop.h5`, baseUrl: RESNET_BASE_URL, hash: NOTOP_HASHES[name]! };
}

// ---------------------------------------------------------------------------------------------

interface Built {
  model: tf.LayersModel;
  label: string;
  file?: () => KerasWeightFile;
  mismatchHint: string;
}

/** Builds, fills and (if asked) freezes; the model is disposed if its weights do not load. */
async function finish({ model, label, file, mismatchHint }: Built, weights: string, trainable: boolean, shape: FeatureShape) {
  const target: LoadTarget = { model, label, mismatchHint };
  const imagenet = async (t: LoadTarget) => {
    if (!file) throw new UsageError(`${label}: no ImageNet weights are published for it; use weights=none or a weights file`);
    return loadOfficialWeights(t, file());
  };
  const source = await loadWeights(weights, target, imagenet).catch((error: unknown) => {
    model.dispose();
    throw error;
  });
  if (!trainable) {
    model.trainable = false;
    for (const layer of model.layers) layer.trainable = false;
  }
  return { model, featureShape: shape, weights: source };
}

/** The model rescales [0, 255] itself (MobileNetV3, EfficientNet): Keras' preprocess_input is the identity. */
const identity = (images: tf.Tensor4D) => tf.clone(images);

// ---------------------------------------------------------------------------------------------
// MobileNetV3

export const mobilenetv3Schema = {
  alpha: { type: 'number', default: 1.0, oneOf: [0.75, 1.0], description: 'width multiplier, as Keras alpha (ImageNet weights exist for 0.75 and 1.0)' },
  minimalistic: { type: 'boolean', default: false, description: 'Keras minimalistic: 3x3 kernels, ReLU, no squeeze-and-excite' },
  ...common,
} as const satisfies OptionsSchema;

export type MobileNetV3Options = UserOptions<typeof mobilenetv3Schema>;

function mobileNetV3Factory(type: MobileNetV3Type) {
  const name = `mobilenetv3${type}`;
  return defineBackbone({
    meta: { name, version, description: `keras.applications.MobileNetV3${type === 'small' ? 'Small' : 'Large'}(include_top=False): same layers, names and parameter counts; rescales [0, 255] inside` },
    schema: mobilenetv3Schema,
    featureShape: (inputSize, { alpha }) => mobileNetV3Shape(type, inputSize, alpha),
    preprocess: identity,
    async build({ inputSize, seed }, { alpha, minimalistic, weights, trainable }) {
      const shape = mobileNetV3Shape(type, inputSize, alpha);
      if (weights === 'imagenet') mobileNetV3WeightFile(type, alpha, minimalistic); // refuse before building
      const model = mobileNetV3({ type, alpha, minimalistic, inputSize, seed });
      const label = `${name} alpha ${pyFloat(alpha)}${minimalistic ? ' minimalistic' : ''}`;
      const mismatchHint = `The file is probably for another alpha, another minimalistic setting or another MobileNetV3 than ${label}.`;
      return finish({ model, label, file: () => mobileNetV3WeightFile(type, alpha, minimalistic), mismatchHint }, weights, trainable, shape);
    },
  });
}

const small = mobileNetV3Factory('small');
const large = mobileNetV3Factory('large');

/** MobileNetV3Small as a headbench backbone; `mobilenetv3small({ alpha: 0.75, weights: 'none' })`. */
export function mobilenetv3small(options?: MobileNetV3Options): BackbonePlugin {
  return small(options);
}

/** MobileNetV3Large as a headbench backbone. */
export function mobilenetv3large(options?: MobileNetV3Options): BackbonePlugin {
  return large(options);
}

// ---------------------------------------------------------------------------------------------
// EfficientNetB0

export const efficientnetb0Schema = { ...common } as const satisfies OptionsSchema;
export type EfficientNetB0Options = UserOptions<typeof efficientnetb0Schema>;

const efficientnet = defineBackbone({
  meta: { name: 'efficientnetb0', version, description: 'keras.applications.EfficientNetB0(include_top=False): same layers, names and parameter counts; rescales and normalises [0, 255] inside' },
  schema: efficientnetb0Schema,
  featureShape: (inputSize) => efficientNetShape(inputSize),
  preprocess: identity,
  async build({ inputSize, seed }, { weights, trainable }) {
    const shape = efficientNetShape(inputSize);
    // Keras adds a layer for weights="imagenet" (a Rescaling by 1/sqrt(stddev)); so does this.
    const model = efficientNetB0({ inputSize, seed, imagenetLayout: weights === 'imagenet' });
    return finish({ model, label: 'efficientnetb0', file: efficientNetWeightFile, mismatchHint: 'The file is probably for another EfficientNet than B0.' }, weights, trainable, shape);
  },
});

/** EfficientNetB0 as a headbench backbone. */
export function efficientnetb0(options?: EfficientNetB0Options): BackbonePlugin {
  return efficientnet(options);
}

// ---------------------------------------------------------------------------------------------
// ResNet50 and ResNet50V2

export const resnetSchema = { ...common } as const satisfies OptionsSchema;
export type ResNetOptions = UserOptions<typeof resnetSchema>;

/** Keras' imagenet_utils caffe mode: RGB to BGR, minus the ImageNet mean of each channel (BGR order). */
export const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68] as const;

function resNetFactory(v: ResNetVersion) {
  const name = v === 'v1' ? 'resnet50' : 'resnet50v2';
  return defineBackbone({
    meta: {
      name,
      version,
      description:
        v === 'v1'
          ? 'keras.applications.ResNet50(include_top=False): same layers, names and parameter counts; caffe preprocessing (BGR, mean subtracted)'
          : 'keras.applications.ResNet50V2(include_top=False): same layers, names and parameter counts; [0, 255] to [-1, 1]',
    },
    schema: resnetSchema,
    featureShape: (inputSize) => resNetShape(v, inputSize),
    preprocess:
      v === 'v1'
        ? (images) => tf.tidy(() => tf.sub(tf.reverse(images, -1), tf.tensor1d([...CAFFE_MEAN_BGR])))
        : (images) => tf.tidy(() => tf.sub(tf.div(images, 127.5), 1)),
    async build({ inputSize, seed }, { weights, trainable }) {
      const shape = resNetShape(v, inputSize);
      const model = resNet50({ version: v, inputSize, seed });
      const other = v === 'v1' ? 'ResNet50V2' : 'ResNet50';
      return finish({ model, label: name, file: () => resNetWeightFile(v), mismatchHint: `The file is probably for another ResNet (${other}, ResNet101, ...).` }, weights, trainable, shape);
    },
  });
}

const r50 = resNetFactory('v1');
const r50v2 = resNetFactory('v2');

/** ResNet50 as a headbench backbone. */
export function resnet50(options?: ResNetOptions): BackbonePlugin {
  return r50(options);
}

/** ResNet50V2 as a headbench backbone. */
export function resnet50v2(options?: ResNetOptions): BackbonePlugin {
  return r50v2(options);
}

/**
 * The official Keras file a backbone plugin will load with weights=imagenet, or undefined (other
 * weights, or MobileNetV2, whose ImageNet weights are bundled or looked up by its own rules).
 */
export function imagenetWeightFile(plugin: BackbonePlugin): KerasWeightFile | undefined {
  const options = plugin.options as { weights?: string; alpha?: number; minimalistic?: boolean };
  if (options.weights !== 'imagenet') return undefined;
  switch (plugin.meta.name) {
    case 'mobilenetv3small':
    case 'mobilenetv3large':
      return mobileNetV3WeightFile(plugin.meta.name === 'mobilenetv3small' ? 'small' : 'large', options.alpha ?? 1, options.minimalistic ?? false);
    case 'efficientnetb0':
      return efficientNetWeightFile();
    case 'resnet50':
    case 'resnet50v2':
      return resNetWeightFile(plugin.meta.name === 'resnet50' ? 'v1' : 'v2');
    default:
      return undefined;
  }
}
