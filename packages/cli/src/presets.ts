import { fileURLToPath } from 'node:url';

/** The flowers kept in this package: 5 classes, 600 train and 200 val images, 128x128, CC-BY 2.0. */
export const FLOWERS_MINI = fileURLToPath(new URL('../datasets/flowers-mini', import.meta.url));

/** A trainer with the learning rates it trains at, when they are its own (`{ trainer: 'adam', lr: [1e-3, 1e-4] }`). */
export interface TrainerWithRates {
  trainer: string;
  lr: number[];
}

/** Everything a run can be told; a preset fills some of it, the config file and flags the rest. */
export interface RunPlanSettings {
  backbones: string[];
  heads: string[];
  /** Trainer specifiers, each at every `lr`, or with learning rates of its own (`--lr` overrides those). */
  trainers: (string | TrainerWithRates)[];
  lr: number[];
  seeds: number[];
  inputSize: number;
  epochs: number;
  batchSize: number;
  /** `--momentum`: SGD's momentum, the trainer `sgd:momentum=<m>` (0: plain SGD). */
  momentum: number;
  train?: string;
  val?: string;
  valSplit?: number;
  test?: string;
  testSplit?: number;
  /** The head the others are compared with; the first of `heads` when not given. */
  baseline?: string;
}

export interface Preset {
  description: string;
  settings: Partial<RunPlanSettings>;
  /** false: the preset skips the tinybench timings after each combination, as --no-bench does. */
  bench?: boolean;
  /** Said when the preset cannot run as given (it needs a dataset path, say). */
  requires?: (s: Partial<RunPlanSettings> & { dataset?: string }) => string | undefined;
}

/** Every built-in head against gap, each at its best lr on val, the verdicts on a test split: the `heads` and `probe` presets. */
const LEADERBOARD: Partial<RunPlanSettings> = {
  backbones: ['mobilenetv2:alpha=0.35'],
  heads: ['gap', 'flatten', 'gmp', 'avgmax', 'mlp', 'gdconv', 'se', 'gem', 'lse', 'attention', 'bilinear'],
  lr: [0.1, 0.01],
  seeds: [1, 2, 3],
  inputSize: 96,
  epochs: 5,
  batchSize: 32,
  train: `${FLOWERS_MINI}/train`,
  val: `${FLOWERS_MINI}/val`,
  testSplit: 0.2,
};

export const PRESETS: Record<string, Preset> = {
  default: {
    description:
      'the seed experiment in a few minutes: MobileNetV2 alpha 0.35 (ImageNet), GAP vs Flatten, lr 0.1 and 0.01, 5 epochs at 96x96 on the bundled flowers-mini (600 train / 200 val)',
    settings: {
      backbones: ['mobilenetv2:alpha=0.35'],
      heads: ['gap', 'flatten'],
      lr: [0.1, 0.01],
      seeds: [1],
      inputSize: 96,
      epochs: 5,
      batchSize: 32,
      train: `${FLOWERS_MINI}/train`,
      val: `${FLOWERS_MINI}/val`,
    },
  },
  seed: {
    description:
      'the original experiment at full size: MobileNetV2 alpha 1.0 (ImageNet), 224x224, batch 32, GAP and Flatten, lr 0.1 and 0.01, 10 epochs, on your dataset (--train and --val, or --val-split)',
    settings: { backbones: ['mobilenetv2'], heads: ['gap', 'flatten'], lr: [0.1, 0.01], seeds: [1], inputSize: 224, epochs: 10, batchSize: 32 },
    requires: (s) =>
      s.train || s.dataset === 'synthetic' ? undefined : 'the seed preset trains on your images: give --train <dir> with --val <dir> or --val-split <fraction>',
  },
  backbones: {
    description:
      'one head verdict per backbone: GAP and Flatten on MobileNetV3Small, MobileNetV3Large, EfficientNetB0, ResNet50 and ResNet50V2 (ImageNet weights, Keras\' official files), lr 0.01, 5 epochs at 160x160 on the bundled flowers-mini (10 combinations); lists the weight files it needs before training',
    settings: {
      backbones: ['mobilenetv3small', 'mobilenetv3large', 'efficientnetb0', 'resnet50', 'resnet50v2'],
      heads: ['gap', 'flatten'],
      lr: [0.01],
      seeds: [1],
      inputSize: 160,
      epochs: 5,
      batchSize: 32,
      train: `${FLOWERS_MINI}/train`,
      val: `${FLOWERS_MINI}/val`,
    },
  },
  recipes: {
    description:
      'trainers compared: MobileNetV2 alpha 0.35 (ImageNet) at 96x96 on the bundled flowers-mini, gap and flatten, each with sgd at lr 0.1 and 0.01 (the seed experiment\'s) and with adam at lr 1e-3 (Keras\' default) and 1e-4 (the rate people fine-tune with), seed 1, 5 epochs (8 combinations)',
    settings: {
      backbones: ['mobilenetv2:alpha=0.35'],
      heads: ['gap', 'flatten'],
      trainers: [
        { trainer: 'sgd', lr: [0.1, 0.01] },
        { trainer: 'adam', lr: [0.001, 0.0001] },
      ],
      seeds: [1],
      inputSize: 96,
      epochs: 5,
      batchSize: 32,
      train: `${FLOWERS_MINI}/train`,
      val: `${FLOWERS_MINI}/val`,
    },
  },
  heads: {
    description:
      'the head leaderboard: every built-in head against gap on MobileNetV2 alpha 0.35 (ImageNet) at 96x96 on the bundled flowers-mini, lr 0.1 and 0.01 (each head\'s chosen on val), seeds 1, 2 and 3, 5 epochs, the verdicts on a test split of 20% of train (66 combinations)',
    settings: LEADERBOARD,
  },
  nightly: {
    description:
      'the nightly cross product: MobileNetV2 alpha 0.35 (ImageNet) at 96x96 on the bundled flowers-mini, heads gap, flatten and gmp, lr 0.01, seeds 1, 2 and 3, 5 epochs (9 combinations)',
    settings: {
      backbones: ['mobilenetv2:alpha=0.35'],
      heads: ['gap', 'flatten', 'gmp'],
      lr: [0.01],
      seeds: [1, 2, 3],
      inputSize: 96,
      epochs: 5,
      batchSize: 32,
      train: `${FLOWERS_MINI}/train`,
      val: `${FLOWERS_MINI}/val`,
    },
  },
  probe: {
    description:
      'linear probes of every built-in head: MobileNetV2 alpha 0.35 (ImageNet) frozen, 96x96, on the bundled flowers-mini with a test split (0.2 of train), lr 0.1 and 0.01 (each head at its best on val, the verdict on test), seeds 1, 2 and 3, 5 epochs (66 combinations); the heads train on the backbone\'s features, computed once into the feature cache; no tinybench timings (as --no-bench)',
    settings: { ...LEADERBOARD, backbones: ['mobilenetv2:alpha=0.35,trainable=false'] },
    bench: false,
  },
};

/** Defaults under every preset. */
export const RUN_DEFAULTS = { seeds: [1], momentum: 0, epochs: 5, batchSize: 32, divergenceLoss: 1000 } as const;
