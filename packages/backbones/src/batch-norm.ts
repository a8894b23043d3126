import { tf } from '@headbench/core';

type Call = tf.layers.Layer['call'];

/**
 * BatchNormalization as MobileNetV2 uses it (epsilon 1e-3, momentum 0.999), with Keras' rule for
 * frozen layers: a layer with `trainable = false` normalises with its moving statistics even
 * while training, and leaves them unchanged. tfjs-layers would use batch statistics and update
 * the moving ones whenever `training` is true, so a "frozen" pretrained base would drift.
 */
export function batchNormalization(name: string): tf.layers.Layer {
  const layer = tf.layers.batchNormalization({ axis: -1, epsilon: 1e-3, momentum: 0.999, name });
  // The class's call is looked up at each call, so core's fused-kernel switch applies here too.
  const proto = Object.getPrototypeOf(layer) as { call: Call };
  layer.call = (inputs, kwargs) => proto.call.call(layer, inputs, layer.trainable ? kwargs : { ...kwargs, training: false });
  return layer;
}
