import { createRequire } from 'node:module';
import { defineTrainer, type TrainerPlugin, type UserOptions } from '@headbench/core';
import { builtinRecipe, COMMON_SCHEMA, weightDecayOption } from './recipe.js';

// Results record the plugin version, so it is read from the package rather than copied here.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

// Each optimiser's options with Keras 3's defaults (keras/src/optimizers/*.py; the tests compare
// them with the installed Keras' get_config()). The update rules themselves are the engine's
// optimizerTranslators, checked against Keras' train_on_batch in packages/backbones.

const SGD_SCHEMA = {
  momentum: { type: 'number', default: 0, min: 0, max: 0.999, description: "Keras' SGD momentum: v = momentum * v - lr * g; w += v (0: plain SGD, the seed experiment's)" },
  nesterov: { type: 'boolean', default: false, description: 'Nesterov momentum: w += momentum * v - lr * g' },
  weightDecay: weightDecayOption(0),
  ...COMMON_SCHEMA,
} as const;

const ADAM_OPTIONS = {
  beta1: { type: 'number', default: 0.9, min: 0, max: 0.999999, description: 'decay of the first-moment estimate (beta_1)' },
  beta2: { type: 'number', default: 0.999, min: 0, max: 0.999999, description: 'decay of the second-moment estimate (beta_2)' },
  epsilon: { type: 'number', default: 1e-7, min: 0, description: "added to the root of the second moment, outside the bias correction (Keras' epsilon hat)" },
} as const;

const ADAM_SCHEMA = { ...ADAM_OPTIONS, weightDecay: weightDecayOption(0), ...COMMON_SCHEMA } as const;
const ADAMW_SCHEMA = { ...ADAM_OPTIONS, weightDecay: weightDecayOption(0.004), ...COMMON_SCHEMA } as const;

const RMSPROP_SCHEMA = {
  rho: { type: 'number', default: 0.9, min: 0, max: 0.999999, description: 'decay of the mean square of the gradients' },
  momentum: { type: 'number', default: 0, min: 0, max: 0.999, description: 'momentum on the scaled step' },
  epsilon: { type: 'number', default: 1e-7, min: 0, description: 'added under the root' },
  centered: { type: 'boolean', default: false, description: 'divide by the variance of the gradients (their mean square minus their mean squared), not the mean square' },
  weightDecay: weightDecayOption(0),
  ...COMMON_SCHEMA,
} as const;

const makeSgd = defineTrainer({
  meta: { name: 'sgd', version, description: "SGD with optional (Nesterov) momentum, as keras.optimizers.SGD; the default trainer" },
  schema: SGD_SCHEMA,
  recipe: (context, o) => builtinRecipe('sgd', (base) => ({ name: 'sgd', options: { momentum: o.momentum, nesterov: o.nesterov }, ...base }), o, context),
});

const adamSpec = (o: { beta1: number; beta2: number; epsilon: number }) => ({ beta1: o.beta1, beta2: o.beta2, epsilon: o.epsilon });

const makeAdam = defineTrainer({
  meta: { name: 'adam', version, description: 'Adam, as keras.optimizers.Adam (epsilon 1e-7 outside the bias correction)' },
  schema: ADAM_SCHEMA,
  recipe: (context, o) => builtinRecipe('adam', (base) => ({ name: 'adam', options: adamSpec(o), ...base }), o, context),
});

const makeAdamw = defineTrainer({
  meta: { name: 'adamw', version, description: 'AdamW, as keras.optimizers.AdamW: Adam with decoupled weight decay, 0.004 by default' },
  schema: ADAMW_SCHEMA,
  recipe: (context, o) => builtinRecipe('adamw', (base) => ({ name: 'adam', options: adamSpec(o), ...base }), o, context),
});

const makeRmsprop = defineTrainer({
  meta: { name: 'rmsprop', version, description: 'RMSprop, as keras.optimizers.RMSprop (rho 0.9, epsilon 1e-7)' },
  schema: RMSPROP_SCHEMA,
  recipe: (context, o) => builtinRecipe('rmsprop', (base) => ({ name: 'rmsprop', options: { rho: o.rho, momentum: o.momentum, epsilon: o.epsilon, centered: o.centered }, ...base }), o, context),
});

/** SGD (`--trainer sgd:momentum=0.9,nesterov=true`), the default trainer: plain SGD at `--lr`. */
export function sgd(options?: UserOptions<typeof SGD_SCHEMA>): TrainerPlugin {
  return makeSgd(options);
}

/** Adam (`--trainer adam`), Keras' defaults: beta1 0.9, beta2 0.999, epsilon 1e-7. */
export function adam(options?: UserOptions<typeof ADAM_SCHEMA>): TrainerPlugin {
  return makeAdam(options);
}

/** AdamW (`--trainer adamw`): Adam with weight decay 0.004 applied as `w -= w * 0.004 * lr`. */
export function adamw(options?: UserOptions<typeof ADAMW_SCHEMA>): TrainerPlugin {
  return makeAdamw(options);
}

/** RMSprop (`--trainer rmsprop`), Keras' defaults: rho 0.9, no momentum, epsilon 1e-7, not centred. */
export function rmsprop(options?: UserOptions<typeof RMSPROP_SCHEMA>): TrainerPlugin {
  return makeRmsprop(options);
}

export { schedule, type ScheduleKind, type ScheduleOptions } from './schedule.js';
export { builtinRecipe, COMMON_SCHEMA } from './recipe.js';
