import { UsageError } from '@headbench/errors';
import { deriveSeed, fingerprintOf, seededRandom } from '@headbench/stats';
import type { ImageDataset, ImageSplit } from './dataset.js';
import { MemoryRows, storeSplit } from './rows.js';

export interface SyntheticOptions {
  classes: number;
  trainPerClass: number;
  valPerClass: number;
  /** Test images per class (none by default). */
  testPerClass?: number;
  seed: number;
}

/**
 * A seeded, learnable dataset for tests and smoke runs: each class is a colour-tinted stripe
 * pattern with its own orientation and frequency; every image adds a random phase, brightness
 * and noise, so the classes overlap in pixels but are easy to separate by features. Pixels are
 * rounded to bytes, the storage of decoded images, and kept in memory.
 */
export function syntheticDataset({ classes, trainPerClass, valPerClass, testPerClass = 0, seed }: SyntheticOptions): ImageDataset {
  if (!Number.isInteger(classes) || classes < 2) throw new UsageError(`synthetic dataset: classes must be an integer >= 2, got ${classes}`);
  if (!(Number.isInteger(testPerClass) && testPerClass >= 0)) throw new UsageError(`synthetic dataset: test images per class must be an integer >= 0, got ${testPerClass}`);
  if (!(trainPerClass >= 1 && valPerClass >= 1)) throw new UsageError('synthetic dataset: at least one train and one val image per class');
  const cache = new Map<number, { train: ImageSplit; val: ImageSplit; test?: ImageSplit }>();

  const render = (inputSize: number, perClass: number, split: string): ImageSplit => {
    const random = seededRandom(deriveSeed(seed, split));
    const n = classes * perClass;
    const rowBytes = inputSize * inputSize * 3;
    const store = new MemoryRows(rowBytes, n);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = i % classes;
      labels[i] = c;
      const angle = (Math.PI * c) / classes;
      const freq = (2 + (c % 3)) * (2 * Math.PI) / inputSize;
      const tint = [0.5 + 0.5 * Math.cos(c * 2.1), 0.5 + 0.5 * Math.cos(c * 2.1 + 2.1), 0.5 + 0.5 * Math.cos(c * 2.1 + 4.2)];
      const phase = random() * 2 * Math.PI;
      const brightness = 0.7 + 0.3 * random();
      const pixels = store.row(i);
      for (let y = 0; y < inputSize; y++) {
        for (let x = 0; x < inputSize; x++) {
          const wave = 0.5 + 0.5 * Math.sin(freq * (x * Math.cos(angle) + y * Math.sin(angle)) + phase);
          const base = (y * inputSize + x) * 3;
          for (let ch = 0; ch < 3; ch++) {
            const v = 255 * brightness * (0.25 + 0.6 * wave * (tint[ch] as number)) + 30 * (random() - 0.5);
            pixels[base + ch] = Math.round(Math.min(255, Math.max(0, v)));
          }
        }
      }
    }
    return storeSplit(store, Int32Array.from({ length: n }, (_, k) => k), labels, inputSize, {
      fingerprint: fingerprintOf([`synthetic ${split} classes=${classes} perClass=${perClass} seed=${seed}`]),
    });
  };

  return {
    name: `synthetic(classes=${classes},train=${trainPerClass},val=${valPerClass}${testPerClass ? `,test=${testPerClass}` : ''},seed=${seed})`,
    classes: Array.from({ length: classes }, (_, i) => `class_${i}`),
    trainCount: classes * trainPerClass,
    valCount: classes * valPerClass,
    testCount: classes * testPerClass,
    skipped: [],
    async load(inputSize) {
      let entry = cache.get(inputSize);
      if (!entry) {
        entry = {
          train: render(inputSize, trainPerClass, 'train'),
          val: render(inputSize, valPerClass, 'val'),
          ...(testPerClass > 0 ? { test: render(inputSize, testPerClass, 'test') } : {}),
        };
        cache.set(inputSize, entry);
      }
      return entry;
    },
    dispose() {
      cache.clear();
    },
  };
}
