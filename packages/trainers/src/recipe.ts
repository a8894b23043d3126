import { UsageError, type OptimizerSpec, type RecipeContext, type ResolvedOptions, type TrainingRecipe, type TrainingStage } from '@headbench/core';
import { schedule, type ScheduleKind } from './schedule.js';

/**
 * The options every built-in trainer takes besides its optimiser's own: the schedule, the loss,
 * clipping, augmentation and the two-stage transfer recipe. Keras' words where Keras has them.
 */
export const COMMON_SCHEMA = {
  schedule: { type: 'string', default: 'constant', oneOf: ['constant', 'cosine', 'step'], description: "learning rate per step: constant, cosine (Keras' CosineDecay to 0 over the stage) or step (times stepRate every stepEvery epochs)" },
  warmupEpochs: { type: 'number', default: 0, min: 0, description: "epochs of linear warmup from 0 to the learning rate at the start of each stage, as Keras' CosineDecay warmup_steps" },
  stepEvery: { type: 'number', default: 0, min: 0, description: 'schedule=step: epochs between decays; 0 for a third of the stage (at least 1)' },
  stepRate: { type: 'number', default: 0.1, min: 0, max: 1, description: 'schedule=step: the factor at each decay' },
  labelSmoothing: { type: 'number', default: 0, min: 0, max: 0.99, description: "CategoricalCrossentropy(label_smoothing): labels become y * (1 - s) + s / classes" },
  clipNorm: { type: 'number', default: 0, min: 0, description: "Keras' clipnorm: each weight's gradient scaled to at most this L2 norm, by its own norm (not global_clipnorm); 0 for none" },
  flip: { type: 'boolean', default: false, description: "mirror each training image left to right with probability 1/2 (Keras' RandomFlip(\"horizontal\"))" },
  zoom: { type: 'number', default: 0, min: 0, max: 0.5, description: "scale each training image by a factor in [1 - zoom, 1 + zoom] at a random position (Keras' RandomZoom with RandomCrop's random placement, reflected borders); 0 for none" },
  freezeEpochs: { type: 'number', default: 0, min: 0, integer: true, description: 'train the head alone for this many epochs first, the backbone frozen (BatchNorm on its moving statistics), then the whole model at finetuneLr' },
  finetuneLr: { type: 'number', default: 0, min: 0, description: "with freezeEpochs: the learning rate after unfreezing; 0 for a hundredth of --lr, the ratio of Keras' transfer-learning guide (1e-3, then 1e-5)" },
} as const;

/** Every built-in's weight decay, with its own default (AdamW's is 0.004, Keras'). */
export const weightDecayOption = (defaultValue: number) =>
  ({ type: 'number', default: defaultValue, min: 0, description: "Keras' weight_decay: each step first shrinks every trainable weight by w * weightDecay * lr, decoupled from the gradient" }) as const;

type Common = ResolvedOptions<typeof COMMON_SCHEMA> & { weightDecay: number };

/**
 * The recipe of a built-in trainer: one stage, or with `freezeEpochs` a frozen one at `lr` and a
 * full one at `finetuneLr`, each a fresh optimiser (as two `compile`s in Keras) with its own
 * schedule and warmup over its own steps.
 */
export function builtinRecipe(name: string, optimizer: (o: { weightDecay: number; clipNorm: number }) => OptimizerSpec, options: Common, { lr, epochs, stepsPerEpoch }: RecipeContext): TrainingRecipe {
  const { freezeEpochs, finetuneLr } = options;
  if (freezeEpochs > epochs) {
    throw new UsageError(`${name}: freezeEpochs=${freezeEpochs} is more than the run's ${epochs} epochs; give --epochs at least ${freezeEpochs} or fewer frozen epochs`);
  }
  const spec = optimizer({ weightDecay: options.weightDecay, clipNorm: options.clipNorm });
  const stage = (stageEpochs: number, train: 'all' | 'head', rate: number): TrainingStage => {
    const totalSteps = stageEpochs * stepsPerEpoch;
    const warmupSteps = Math.round(options.warmupEpochs * stepsPerEpoch);
    if (warmupSteps >= totalSteps && options.warmupEpochs > 0) {
      throw new UsageError(`${name}: warmupEpochs=${options.warmupEpochs} leaves nothing of a ${stageEpochs}-epoch stage (${totalSteps} steps) after warmup; warm up for fewer epochs than each stage has`);
    }
    const every = options.stepEvery > 0 ? options.stepEvery : Math.max(1, Math.round(stageEpochs / 3));
    const rateAt = schedule({
      kind: options.schedule as ScheduleKind,
      lr: rate,
      totalSteps,
      warmupSteps,
      stepEvery: Math.max(1, Math.round(every * stepsPerEpoch)),
      stepRate: options.stepRate,
    });
    return { epochs: stageEpochs, train, optimizer: spec, learningRate: rateAt };
  };
  const stages: TrainingStage[] = [];
  if (freezeEpochs > 0) stages.push(stage(freezeEpochs, 'head', lr));
  if (epochs > freezeEpochs) stages.push(stage(epochs - freezeEpochs, 'all', freezeEpochs > 0 ? finetuneLr || lr / 100 : lr));
  return {
    stages,
    ...(options.labelSmoothing > 0 ? { labelSmoothing: options.labelSmoothing } : {}),
    ...(options.flip || options.zoom > 0 ? { augment: { flip: options.flip, zoom: options.zoom } } : {}),
  };
}
