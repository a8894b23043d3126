import { describeTrainerConformance } from '@headbench/core/testing';
import { adam, adamw, rmsprop, sgd } from './index.js';

// The kit on each built-in, with its two-stage recipe (freezeEpochs) and with augmentation, label
// smoothing, clipping and a schedule, so those run through the same checks.
describeTrainerConformance(sgd, { options: { momentum: 0.9 }, freezeOptions: { freezeEpochs: 1 } });
describeTrainerConformance(adam, { freezeOptions: { freezeEpochs: 1 } });
describeTrainerConformance(adamw, { options: { schedule: 'cosine', warmupEpochs: 0.5, labelSmoothing: 0.1, clipNorm: 1, flip: true, zoom: 0.2 }, freezeOptions: { freezeEpochs: 1 } });
describeTrainerConformance(rmsprop, { options: { centered: true, momentum: 0.5, schedule: 'step' }, freezeOptions: { freezeEpochs: 1 } });
