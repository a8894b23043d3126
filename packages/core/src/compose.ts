import { tf } from '@headbench/engine';
import { UsageError } from '@headbench/errors';
import type { ParamCounts } from '@headbench/results';
import type { Backbone, BackbonePlugin, FeatureShape, HeadPlugin } from './plugin.js';

function size(weights: readonly tf.LayerVariable[]): number {
  return weights.reduce((sum, w) => sum + w.shape.reduce<number>((p, d) => p * (d ?? 1), 1), 0);
}

/** Parameter counts as Keras' `model.summary()` gives them. */
export function countParams(model: tf.LayersModel, backbone?: tf.LayersModel): ParamCounts {
  const trainable = size(model.trainableWeights);
  const nonTrainable = size(model.nonTrainableWeights);
  const total = trainable + nonTrainable;
  const base = backbone ? size(backbone.trainableWeights) + size(backbone.nonTrainableWeights) : 0;
  return { total, trainable, nonTrainable, head: backbone ? total - base : 0 };
}

export interface ComposedModel {
  /** Image input to logits, as one flat graph: the backbone's layers followed by the head's. */
  model: tf.LayersModel;
  backbone: Backbone;
  /** The backbone's layers within `model` (every layer but the input): what a trainer freezes to train the head alone. */
  backboneLayers: tf.layers.Layer[];
  featureShape: FeatureShape;
  params: ParamCounts;
}

export interface ComposeOptions {
  inputSize: number;
  classes: number;
  seed: number;
}

/** Builds backbone and head into one model, checking that the head yields [batch, classes]. */
export async function composeModel(backbonePlugin: BackbonePlugin, head: HeadPlugin, { inputSize, classes, seed }: ComposeOptions): Promise<ComposedModel> {
  if (!Number.isInteger(classes) || classes < 2) throw new UsageError(`classes must be an integer >= 2, got ${classes}`);
  const featureShape = backbonePlugin.featureShape(inputSize);
  const backbone = await backbonePlugin.build({ inputSize, seed });
  const features = backbone.model.outputs[0];
  if (!features) throw new Error(`backbone ${backbonePlugin.meta.name} built a model without outputs`);
  const logits = head.build(features, { classes, featureShape, seed });
  const outShape = logits.shape;
  if (outShape.length !== 2 || outShape[1] !== classes) {
    throw new Error(`head ${head.meta.name} produced shape [${outShape.join(', ')}], expected [batch, ${classes}]`);
  }
  const model = tf.model({ inputs: backbone.model.inputs, outputs: logits, name: `${backbonePlugin.meta.name}_${head.meta.name}` });
  const own = new Set(backbone.model.layers);
  const backboneLayers = model.layers.filter((l) => own.has(l) && l.getClassName() !== 'InputLayer');
  return { model, backbone, backboneLayers, featureShape, params: countParams(model, backbone.model) };
}
