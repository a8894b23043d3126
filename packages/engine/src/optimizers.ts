/**
 * Optimisers as update rules, each written once against a small tensor algebra (`Ops`) with two
 * implementations: TensorFlow graph ops, for the training graph (graph/train.ts), and eager tfjs
 * ops, for the eager step (step.ts). So a rule runs the same arithmetic in both engines, and a
 * new optimiser is one entry in `optimizerTranslators`.
 *
 * The built-in rules follow Keras 3 (keras/src/optimizers/*.py), which is what users compare
 * against: the same formulas in the same order, the same defaults. Weight decay and gradient
 * clipping are Keras' base-optimizer steps, applied around every rule (see `applyOptimizer`).
 */

/** The arithmetic an update rule may use; `T` is a graph tensor or an eager tfjs tensor. */
export interface Ops<T> {
  scalar(value: number): T;
  add(a: T, b: T): T;
  sub(a: T, b: T): T;
  mul(a: T, b: T): T;
  div(a: T, b: T): T;
  sqrt(a: T): T;
  square(a: T): T;
  pow(a: T, b: T): T;
  maximum(a: T, b: T): T;
  /** The L2 norm of all of `a`'s elements, a scalar. */
  norm(a: T): T;
}

export type OptimizerOptions = Readonly<Record<string, number | boolean>>;

/** One weight's update: its value (after weight decay), gradient (after clipping) and state. */
export interface UpdateArgs<T> {
  weight: T;
  grad: T;
  /** The weight's state, in the order `slots` names it; zeros before the first step. */
  slots: readonly T[];
  /** The learning rate of this step (fed, so a schedule costs nothing). */
  lr: T;
  /** What `prepare` computed for this step. */
  shared: Readonly<Record<string, T>>;
}

export interface UpdateResult<T> {
  weight: T;
  /** The new state, in the order of `slots`. */
  slots: T[];
}

/**
 * An optimiser's update rule. `slots` are its per-weight variables (Keras' optimizer variables:
 * momentums, velocities), graph state like the weights: fed in and returned at each step.
 */
export interface OptimizerTranslator {
  /** Every option with its default (Keras' defaults for the built-ins); other keys are refused. */
  defaults: OptimizerOptions;
  /** The per-weight state this rule keeps with these options, each zeros of the weight's shape at first. */
  slots(options: OptimizerOptions): readonly string[];
  /**
   * Scalars every weight's update shares at one step, computed once per step (Adam's bias
   * correction, say), from the learning rate and `step`, the 1-based count of updates (Keras'
   * `iterations + 1`).
   */
  prepare?<T>(ops: Ops<T>, lr: T, step: T, options: OptimizerOptions): Record<string, T>;
  update<T>(ops: Ops<T>, args: UpdateArgs<T>, options: OptimizerOptions): UpdateResult<T>;
}

const num = (options: OptimizerOptions, key: string): number => Number(options[key]);

/**
 * Keras' SGD: `v = momentum * v - lr * g; w += v` (Nesterov: `w += momentum * v - lr * g`, with
 * the new v), or `w -= lr * g` without momentum. tfjs' MomentumOptimizer accumulates `a = m * a + g`
 * and steps `w -= lr * a` instead, which differs from Keras once the learning rate changes.
 */
const sgd: OptimizerTranslator = {
  defaults: { momentum: 0, nesterov: false },
  slots: (o) => (num(o, 'momentum') > 0 ? ['momentum'] : []),
  update<T>(ops: Ops<T>, { weight, grad, slots, lr }: UpdateArgs<T>, o: OptimizerOptions): UpdateResult<T> {
    const momentum = num(o, 'momentum');
    const scaled = ops.mul(grad, lr);
    if (!(momentum > 0)) return { weight: ops.sub(weight, scaled), slots: [] };
    const m = ops.scalar(momentum);
    const v = ops.sub(ops.mul(slots[0]!, m), scaled);
    const step = o['nesterov'] === true ? ops.sub(ops.mul(v, m), scaled) : v;
    return { weight: ops.add(weight, step), slots: [v] };
  },
};

/**
 * Keras' Adam: `m += (g - m) * (1 - beta1); v += (g^2 - v) * (1 - beta2);
 * w -= m * alpha / (sqrt(v) + epsilon)` with `alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t)`
 * (epsilon is Kingma and Ba's "epsilon hat", default 1e-7, not tfjs' 1e-8 inside the root).
 */
const adam: OptimizerTranslator = {
  defaults: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
  slots: () => ['momentum', 'velocity'],
  prepare<T>(ops: Ops<T>, lr: T, step: T, o: OptimizerOptions): Record<string, T> {
    const b1Power = ops.pow(ops.scalar(num(o, 'beta1')), step);
    const b2Power = ops.pow(ops.scalar(num(o, 'beta2')), step);
    const one = ops.scalar(1);
    return { alpha: ops.div(ops.mul(lr, ops.sqrt(ops.sub(one, b2Power))), ops.sub(one, b1Power)) };
  },
  update<T>(ops: Ops<T>, { weight, grad, slots, shared }: UpdateArgs<T>, o: OptimizerOptions): UpdateResult<T> {
    const [m0, v0] = slots as [T, T];
    const m = ops.add(m0, ops.mul(ops.sub(grad, m0), ops.scalar(1 - num(o, 'beta1'))));
    const v = ops.add(v0, ops.mul(ops.sub(ops.square(grad), v0), ops.scalar(1 - num(o, 'beta2'))));
    const step = ops.div(ops.mul(m, shared['alpha']!), ops.add(ops.sqrt(v), ops.scalar(num(o, 'epsilon'))));
    return { weight: ops.sub(weight, step), slots: [m, v] };
  },
};

/**
 * Keras' RMSprop: `v = rho * v + (1 - rho) * g^2`; centred, also `a = rho * a + (1 - rho) * g`
 * and the denominator `v - a^2 + epsilon`, else `v + epsilon`; `inc = lr * g / sqrt(denominator)`;
 * with momentum `mom = momentum * mom + inc; w -= mom`, else `w -= inc`.
 */
const rmsprop: OptimizerTranslator = {
  defaults: { rho: 0.9, momentum: 0, epsilon: 1e-7, centered: false },
  slots: (o) => ['velocity', ...(num(o, 'momentum') > 0 ? ['momentum'] : []), ...(o['centered'] === true ? ['average_gradient'] : [])],
  update<T>(ops: Ops<T>, { weight, grad, slots, lr }: UpdateArgs<T>, o: OptimizerOptions): UpdateResult<T> {
    const rho = ops.scalar(num(o, 'rho'));
    const keep = ops.scalar(1 - num(o, 'rho'));
    const momentum = num(o, 'momentum');
    const centered = o['centered'] === true;
    const v = ops.add(ops.mul(rho, slots[0]!), ops.mul(keep, ops.square(grad)));
    const out: T[] = [v];
    let denominator: T;
    let average: T | undefined;
    if (centered) {
      average = ops.add(ops.mul(rho, slots[momentum > 0 ? 2 : 1]!), ops.mul(keep, grad));
      denominator = ops.add(ops.sub(v, ops.square(average)), ops.scalar(num(o, 'epsilon')));
    } else {
      denominator = ops.add(v, ops.scalar(num(o, 'epsilon')));
    }
    const increment = ops.div(ops.mul(lr, grad), ops.sqrt(denominator));
    let next: T;
    if (momentum > 0) {
      const mom = ops.add(ops.mul(ops.scalar(momentum), slots[1]!), increment);
      out.push(mom);
      next = ops.sub(weight, mom);
    } else {
      next = ops.sub(weight, increment);
    }
    if (average !== undefined) out.push(average);
    return { weight: next, slots: out };
  },
};

/**
 * Update rules by name. A trainer names one in its OptimizerSpec; add an entry to give an
 * optimiser of your own both engines (the built-ins are the examples).
 */
export const optimizerTranslators: Record<string, OptimizerTranslator> = { sgd, adam, rmsprop };

/**
 * What a trainer asks the step to optimise with: a rule of `optimizerTranslators` by name, its
 * options, and Keras' base-optimizer arguments.
 */
export interface OptimizerSpec {
  name: string;
  options?: OptimizerOptions;
  /**
   * Keras' `weight_decay`: every trainable weight shrinks by `w * weightDecay * lr` before the
   * update, for every optimiser (decoupled from the gradient, as AdamW's paper has it).
   */
  weightDecay?: number;
  /**
   * Keras' `clipnorm`: each weight's gradient is scaled down to at most this L2 norm, by its own
   * norm (not Keras' `global_clipnorm`, one norm over all gradients).
   */
  clipNorm?: number;
}

export interface ResolvedOptimizer {
  name: string;
  translator: OptimizerTranslator;
  options: OptimizerOptions;
  weightDecay: number;
  clipNorm: number;
}

/** Looks the rule up and fills in its defaults; a name or option it does not know is an error. */
export function resolveOptimizer(spec: OptimizerSpec): ResolvedOptimizer {
  const translator = optimizerTranslators[spec.name];
  if (!translator) throw new Error(`no optimizer translator named "${spec.name}"; known: ${Object.keys(optimizerTranslators).join(', ')} (add one to optimizerTranslators)`);
  const given = spec.options ?? {};
  for (const [key, value] of Object.entries(given)) {
    if (!(key in translator.defaults)) throw new Error(`optimizer ${spec.name}: unknown option "${key}"; known: ${Object.keys(translator.defaults).join(', ') || 'none'}`);
    if (typeof value !== typeof translator.defaults[key]) throw new Error(`optimizer ${spec.name}: option ${key}=${JSON.stringify(value)} is not a ${typeof translator.defaults[key]}`);
  }
  const weightDecay = spec.weightDecay ?? 0;
  const clipNorm = spec.clipNorm ?? 0;
  if (!(weightDecay >= 0) || !(clipNorm >= 0)) throw new Error(`optimizer ${spec.name}: weightDecay ${weightDecay} and clipNorm ${clipNorm} must be >= 0`);
  return { name: spec.name, translator, options: { ...translator.defaults, ...given }, weightDecay, clipNorm };
}

/** Keras' `_clip_by_norm`: `g * c / max(||g||, c)`. */
export function clipByNorm<T>(ops: Ops<T>, grad: T, clipNorm: number): T {
  const c = ops.scalar(clipNorm);
  return ops.div(ops.mul(grad, c), ops.maximum(ops.norm(grad), c));
}

/**
 * One weight's step as Keras' base optimizer takes it: clip the gradient, decay the weight
 * (`w - w * wd * lr`), then the rule's update.
 */
export function applyOptimizer<T>(ops: Ops<T>, optimizer: ResolvedOptimizer, args: UpdateArgs<T>): UpdateResult<T> {
  const grad = optimizer.clipNorm > 0 ? clipByNorm(ops, args.grad, optimizer.clipNorm) : args.grad;
  const weight = optimizer.weightDecay > 0 ? ops.sub(args.weight, ops.mul(ops.mul(args.weight, ops.scalar(optimizer.weightDecay)), args.lr)) : args.weight;
  return optimizer.translator.update(ops, { ...args, weight, grad }, optimizer.options);
}
