/**
 * Learning rates per step, as Keras' schedules compute them (keras/src/optimizers/schedules):
 * a schedule is a function of the optimiser's update count, starting at 0.
 */
export type ScheduleKind = 'constant' | 'cosine' | 'step';

export interface ScheduleOptions {
  kind: ScheduleKind;
  /** The rate after warmup: where cosine and step decay start. */
  lr: number;
  /** Updates in the stretch the schedule covers (a stage). */
  totalSteps: number;
  /** Updates of linear warmup from 0 to `lr` first (Keras' CosineDecay `warmup_steps`, `warmup_target=lr`). */
  warmupSteps: number;
  /** For `step`: updates between decays, after warmup. */
  stepEvery: number;
  /** For `step`: the factor at each decay. */
  stepRate: number;
}

/**
 * The learning rate at each step:
 *
 * - `constant`: `lr`.
 * - `cosine`: Keras' `CosineDecay(lr, decay_steps=totalSteps)`, with warmup
 *   `CosineDecay(0, decay_steps=totalSteps - warmupSteps, warmup_target=lr, warmup_steps=warmupSteps)`:
 *   `lr * (1 + cos(pi * t / decay_steps)) / 2` from the end of warmup, reaching 0 at the last step.
 * - `step`: Keras' `ExponentialDecay(lr, decay_steps=stepEvery, decay_rate=stepRate, staircase=True)`:
 *   `lr * stepRate^floor(t / stepEvery)`, `t` counted from the end of warmup.
 *
 * Warmup is the line from 0 to `lr` that Keras' CosineDecay draws (`lr * t / warmupSteps`), for
 * every kind; Keras has it only in CosineDecay (with `alpha=1` it is constant after warmup).
 */
export function schedule({ kind, lr, totalSteps, warmupSteps, stepEvery, stepRate }: ScheduleOptions): (step: number) => number {
  if (!(warmupSteps >= 0 && warmupSteps < totalSteps)) throw new RangeError(`warmup of ${warmupSteps} steps does not fit in ${totalSteps}`);
  const decaySteps = totalSteps - warmupSteps;
  return (step) => {
    if (step < warmupSteps) return (lr * step) / warmupSteps;
    const t = step - warmupSteps;
    switch (kind) {
      case 'constant':
        return lr;
      case 'cosine':
        return lr * 0.5 * (1 + Math.cos((Math.PI * Math.min(t, decaySteps)) / decaySteps));
      case 'step':
        return lr * stepRate ** Math.floor(t / stepEvery);
    }
  };
}
