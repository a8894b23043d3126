import { tf } from '@headbench/core';

type Call = tf.layers.Layer['call'];

/**
 * BatchNormalization with Keras' rule for frozen layers: a layer with `trainable = false`
 * normalises with its moving statistics even while training, and leaves them unchanged.
 * tfjs-layers would use batch statistics and update the moving ones whenever `training` is true,
 * so a "frozen" pretrained base would drift. The defaults are MobileNet's (epsilon 1e-3,
 * momentum 0.999); Keras' own defaults, which EfficientNet keeps, are 1e-3 and 0.99.
 */
export function batchNormalization(name: string, { epsilon = 1e-3, momentum = 0.999 }: { epsilon?: number; momentum?: number } = {}): tf.layers.Layer {
  const layer = tf.layers.batchNormalization({ axis: -1, epsilon, momentum, name });
  // The class's call is looked up at each call, so core's fused-kernel switch applies here too.
  const proto = Object.getPrototypeOf(layer) as { call: Call };
  layer.call = (inputs, kwargs) => proto.call.call(layer, inputs, layer.trainable ? kwargs : { ...kwargs, training: false });
  return layer;
}
