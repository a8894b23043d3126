/**
 * Which kernel family TensorFlow runs in this process, and what headbench avoids in it. Decided
 * once, before TensorFlow loads (policy.ts), and read by the translators and kernel fixes.
 * Plain data and no TensorFlow import, so that the policy can set it before the runtime exists.
 */

/** A 1x1 convolution by its input and output channels. */
export type ChannelPair = readonly [input: number, output: number];

export interface OneDnnState {
  /** Whether TensorFlow's oneDNN custom operations are on (TF_ENABLE_ONEDNN_OPTS as TensorFlow reads it). */
  enabled: boolean;
  /** Why, in one sentence: the environment, the probe's measurement, or what failed. */
  reason: string;
  /** oneDNN's instruction set, where narrowed (ONEDNN_MAX_CPU_ISA). */
  isa?: string;
  /**
   * 1x1 convolutions that run as matrix products (the same arithmetic) because oneDNN's 1x1
   * convolution dies for these channel pairs here; only while oneDNN is on.
   */
  conv1x1AsMatMul?: { pairs: ChannelPair[]; why: string };
  /**
   * The probe's training steps, fastest ms of each side, with oneDNN on and off, and how far their
   * results were apart: summed over its networks, and for each (`networks`, from probe version 3).
   */
  measured?: ProbeMeasurement & { networks?: Record<string, ProbeMeasurement> };
}

/** One probe network's fastest training step with oneDNN on and off, and the largest relative difference of its weights after one step. */
export interface ProbeMeasurement {
  onMs: number;
  offMs: number;
  maxRelativeDifference: number;
}

let state: OneDnnState = { enabled: false, reason: 'not decided yet' };

export function setOneDnnState(next: OneDnnState): void {
  state = next;
}

/** The kernel family of this process (recorded with every result as `environment.onednn`). */
export function oneDnnState(): OneDnnState {
  return state;
}

/** Whether a 1x1 convolution with these channels must avoid oneDNN's convolution here. */
export function conv1x1AsMatMul(input: number, output: number): boolean {
  return state.enabled && (state.conv1x1AsMatMul?.pairs.some(([i, o]) => i === input && o === output) ?? false);
}
