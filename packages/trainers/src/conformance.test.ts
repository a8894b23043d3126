import { defineTrainer } from '@headbench/core';
import { describeTrainerConformance } from '@headbench/testing';
import { adam, adamw, rmsprop, sgd } from './index.js';

// The kit on each built-in, with its two-stage recipe (freezeEpochs) and with augmentation, label
// smoothing, clipping and a schedule, so those run through the same checks.
describeTrainerConformance(sgd, { options: { momentum: 0.9 }, freezeOptions: { freezeEpochs: 1 } });
describeTrainerConformance(adam, { freezeOptions: { freezeEpochs: 1 } });
describeTrainerConformance(adamw, { options: { schedule: 'cosine', warmupEpochs: 0.5, labelSmoothing: 0.1, clipNorm: 1, flip: true, zoom: 0.2 }, freezeOptions: { freezeEpochs: 1 } });
describeTrainerConformance(rmsprop, { options: { centered: true, momentum: 0.5, schedule: 'step' }, freezeOptions: { freezeEpochs: 1 } });

// The trainer CONTRIBUTING.md shows, verbatim: the contract a third party writes to.
const adamHalving = defineTrainer({
  meta: { name: 'adam-halving', version: '0.1.0', description: 'Adam, halved every few epochs' },
  schema: { every: { type: 'number', default: 2, integer: true, min: 1, description: 'epochs between halvings' } },
  recipe: ({ lr, epochs, stepsPerEpoch }, { every }) => ({
    stages: [{ epochs, train: 'all', optimizer: { name: 'adam', options: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } }, learningRate: (step) => lr / 2 ** Math.floor(step / (every * stepsPerEpoch)) }],
    labelSmoothing: 0.1,
  }),
});
describeTrainerConformance(adamHalving, { options: { every: 1 } });
