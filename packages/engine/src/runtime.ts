import './load-tensorflow.js';
import * as tf from '@tensorflow/tfjs-node';
import { accelerationEnabled, setAcceleration } from './accelerate.js';
import { applyKernelFixes, kernelFixes } from './kernel-fixes.js';
import { oneDnnState, type OneDnnState } from './onednn/state.js';

/**
 * The one TensorFlow.js instance every headbench package uses. Plugins import `tf` from
 * `@headbench/core` (which re-exports this one) so that layers, the backend and the kernel registry are shared.
 */
export { tf };

/** The backend headbench trains on; anything else is a broken install, not a slow path. */
export const NATIVE_BACKEND = 'tensorflow';

// TensorFlow's fused kernels for ReLU6 and training-mode BatchNorm (see accelerate.ts);
// HEADBENCH_ACCELERATE=0 runs tfjs' own implementation instead, for comparisons.
setAcceleration(process.env['HEADBENCH_ACCELERATE'] !== '0');

// Kernels that compute wrong results on this machine are replaced, whatever the acceleration
// setting: a benchmark of wrong gradients measures nothing (see kernel-fixes.ts).
// HEADBENCH_KERNEL_FIXES=0 keeps the native kernels, to measure what the fixes cost.
if (process.env['HEADBENCH_KERNEL_FIXES'] !== '0') applyKernelFixes();

export interface RuntimeInfo {
  backend: string;
  tfjsNode: string;
  libtensorflow: string;
  accelerated: boolean;
  kernelFixes: string[];
  /** TensorFlow's kernel family in this process: oneDNN or its own, why, and what headbench avoids in it. */
  onednn: OneDnnState;
}

export function runtimeInfo(): RuntimeInfo {
  const backend = tf.getBackend();
  const binding = (tf.backend() as unknown as { binding?: { TF_Version?: string } }).binding;
  return {
    backend,
    tfjsNode: tf.version['tfjs-node'] ?? 'unknown',
    libtensorflow: binding?.TF_Version ?? 'unknown',
    accelerated: accelerationEnabled(),
    kernelFixes: [...kernelFixes()],
    onednn: oneDnnState(),
  };
}
