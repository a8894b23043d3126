/**
 * Keras' `_make_divisible` (from TF-slim's MobileNet): rounds a channel count to a multiple of
 * `divisor`, at least `minValue`, and never more than 10% below `v`. Kept literally (Python's
 * `int()` truncates, `//` floors) because the published checkpoints' channel counts depend on
 * this exact rounding: 16 * 0.35 = 5.6 becomes 8, 32 * 0.35 = 11.2 becomes 16.
 */
export function makeDivisible(v: number, divisor = 8, minValue = divisor): number {
  const rounded = Math.max(minValue, Math.floor(Math.trunc(v + divisor / 2) / divisor) * divisor);
  return rounded < 0.9 * v ? rounded + divisor : rounded;
}
