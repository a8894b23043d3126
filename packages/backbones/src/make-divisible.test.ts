import { describe, expect, it } from 'vitest';
import { makeDivisible } from './make-divisible.js';

// Expected values from Keras' _make_divisible run in Python: every channel count MobileNetV2 asks
// for at the six alphas (32a, int(c * a), 1280a), plus edge cases.
const KERAS: [number, number][] = [
  [3, 8], [5, 8], [8, 8], [11, 16], [11.2, 16], [11.99, 16], [12, 16], [16, 16], [18, 24], [20, 24], [22, 24], [24, 24],
  [28, 32], [31, 32], [32, 32], [33, 32], [36, 40], [41, 40], [41.6, 40], [44, 48], [44.8, 48], [48, 48], [56, 56], [64, 64],
  [72, 72], [80, 80], [83, 80], [89, 88], [96, 96], [100, 104], [112, 112], [120, 120], [124, 128], [134, 136], [160, 160],
  [208, 208], [224, 224], [240, 240], [320, 320], [416, 416], [448, 448], [640, 640], [960, 960], [1280, 1280], [1664, 1664], [1792, 1792],
];

describe('makeDivisible', () => {
  it.each(KERAS)('makeDivisible(%s) = %s, as in Keras', (v, expected) => {
    expect(makeDivisible(v)).toBe(expected);
  });

  it('honours divisor, minimum and the 10% rule like Keras', () => {
    expect(makeDivisible(20, 16)).toBe(32); // 16 would lose more than 10%
    expect(makeDivisible(23.9, 16)).toBe(32);
    expect(makeDivisible(7.9, 4)).toBe(8);
    expect(makeDivisible(10, 4, 12)).toBe(12);
    expect(makeDivisible(-3)).toBe(8);
  });
});
