import { afterAll, describe, expect, it } from 'vitest';
import { setAcceleration } from './accelerate.js';
import { optimizerTranslators, resolveOptimizer, type Ops, type UpdateArgs } from './optimizers.js';
import { tf } from './runtime.js';
import { createTrainStep } from './step.js';

afterAll(() => {
  setAcceleration(true);
  delete optimizerTranslators['signsgd'];
});

function model(): tf.LayersModel {
  const input = tf.input({ shape: [6, 6, 3] });
  const x = tf.layers.conv2d({ filters: 4, kernelSize: 3, useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tf.SymbolicTensor;
  const y = tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(tf.layers.globalAveragePooling2d({}).apply(tf.layers.reLU({}).apply(x))) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: y });
}

async function train(graph: boolean, name: string): Promise<{ engine?: string; weights: number[][] }> {
  setAcceleration(graph);
  const m = model();
  const x = tf.randomNormal([4, 6, 6, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
  const y = tf.tensor1d([0, 1, 2, 0], 'int32');
  const step = createTrainStep(m, { optimizer: { name }, learningRate: 0.01 }, 3);
  for (let i = 0; i < 2; i++) await step(x, y);
  const weights = m.weights.map((w) => Array.from(w.read().dataSync()));
  const engine = step.engine?.engine;
  step.dispose();
  tf.dispose([x, y]);
  m.dispose();
  return { ...(engine ? { engine } : {}), weights };
}

describe('optimizerTranslators', () => {
  it('runs a rule added to the table in both engines, as the README shows', async () => {
    // The README's example, verbatim.
    optimizerTranslators['signsgd'] = {
      defaults: {},
      slots: () => [],
      update: <T>(ops: Ops<T>, { weight, grad, lr }: UpdateArgs<T>) => ({ weight: ops.sub(weight, ops.mul(lr, ops.div(grad, ops.maximum(ops.sqrt(ops.square(grad)), ops.scalar(1e-12))))), slots: [] }),
    };
    const [graph, eager] = [await train(true, 'signsgd'), await train(false, 'signsgd')];
    expect([graph.engine, eager.engine]).toEqual(['graph', 'eager']);
    const start = model();
    start.weights.forEach((w, k) => {
      const before = Array.from(w.read().dataSync());
      // Two steps of lr * sign(g) move every element by 0 or 0.02 (or by 0 where the signs alternate).
      graph.weights[k]!.forEach((v, i) => {
        expect(Math.abs(v - eager.weights[k]![i]!)).toBeLessThan(1e-6);
        expect([0, 0.02].some((d) => Math.abs(Math.abs(v - before[i]!) - d) < 1e-6)).toBe(true);
      });
    });
    start.dispose();
  });

  it('refuses an unknown rule or option by name', () => {
    expect(() => resolveOptimizer({ name: 'lamb' })).toThrow('no optimizer translator named "lamb"; known: sgd, adam, rmsprop');
    expect(() => resolveOptimizer({ name: 'adam', options: { beta3: 1 } })).toThrow('optimizer adam: unknown option "beta3"; known: beta1, beta2, epsilon');
    expect(() => resolveOptimizer({ name: 'sgd', options: { nesterov: 1 } })).toThrow('optimizer sgd: option nesterov=1 is not a boolean');
    expect(resolveOptimizer({ name: 'rmsprop', options: { centered: true } }).options).toEqual({ rho: 0.9, momentum: 0, epsilon: 1e-7, centered: true });
  });
});
