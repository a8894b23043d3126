import type { tf } from './runtime.js';

/**
 * Multiply-adds of one forward pass for one image, counted as the MobileNet papers count them:
 * every layer with a kernel (convolutions, depthwise convolutions, dense) contributes its kernel
 * size times the number of output positions; BatchNorm, activations and additions are not counted.
 * MobileNetV2 1.0 at 224 comes to about 300 M.
 */
export function multiplyAdds(model: tf.LayersModel): number {
  let total = 0;
  for (const layer of model.layers) {
    const kernel = layer.weights.find((w) => /(^|\/)(depthwise_)?kernel(_\d+)?$/.test(w.originalName));
    if (!kernel) continue;
    const kernelSize = kernel.shape.reduce<number>((p, d) => p * (d ?? 1), 1);
    const out = layer.outputShape as (number | null)[];
    const positions = out.slice(1, -1).reduce<number>((p, d) => p * (d ?? 1), 1);
    total += kernelSize * positions;
  }
  return total;
}
