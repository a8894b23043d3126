import { readFileSync } from 'node:fs';
import { defineBackbone, tf, type BackbonePlugin, type OptionsSchema, type UserOptions } from '@headbench/core';
import { featureShape, mobileNetV2 } from './architecture.js';
import { kerasAlpha } from './weights/imagenet.js';
import { loadWeights, WEIGHTS_HELP } from './weights/load.js';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

export const mobilenetv2Schema = {
  alpha: {
    type: 'number',
    default: 1.0,
    oneOf: [0.35, 0.5, 0.75, 1.0, 1.3, 1.4],
    description: 'width multiplier: scales the channels of every layer, as Keras alpha',
  },
  weights: { type: 'string', default: 'imagenet', description: WEIGHTS_HELP },
  trainable: {
    type: 'boolean',
    default: true,
    description: 'false freezes the whole base; its BatchNorm layers then use their moving statistics, as in Keras',
  },
} as const satisfies OptionsSchema;

export type MobileNetV2Options = UserOptions<typeof mobilenetv2Schema>;

const factory = defineBackbone({
  meta: {
    name: 'mobilenetv2',
    version,
    description: 'keras.applications.MobileNetV2(include_top=False): same layers, names and parameter counts',
  },
  schema: mobilenetv2Schema,
  featureShape: (inputSize, { alpha }) => featureShape(inputSize, alpha),
  // Keras' mobilenet_v2.preprocess_input: [0, 255] to [-1, 1].
  preprocess: (images) => tf.tidy(() => tf.sub(tf.div(images, 127.5), 1)),
  async build({ inputSize, seed }, { alpha, weights, trainable }) {
    const shape = featureShape(inputSize, alpha);
    const model = mobileNetV2({ alpha, inputSize, seed });
    const target = {
      model,
      label: `mobilenetv2 alpha ${kerasAlpha(alpha)}`,
      mismatchHint: `The file is probably for another alpha than ${kerasAlpha(alpha)}: pick the alpha it was made for, or weights for this alpha.`,
    };
    const source = await loadWeights(weights, target, { alpha, inputSize }).catch((error: unknown) => {
      model.dispose();
      throw error;
    });
    if (!trainable) freeze(model);
    return { model, featureShape: shape, weights: source };
  },
});

/** Setting each layer (not only the model) keeps the base frozen inside a composed model. */
function freeze(model: tf.LayersModel): void {
  model.trainable = false;
  for (const layer of model.layers) layer.trainable = false;
}

/** MobileNetV2 as a headbench backbone; `mobilenetv2({ alpha: 0.35, weights: 'none' })`. */
export function mobilenetv2(options?: MobileNetV2Options): BackbonePlugin {
  return factory(options);
}
