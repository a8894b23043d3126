import { afterAll, describe, expect, it } from 'vitest';
import { setAcceleration } from '../accelerate.js';
import { tf } from '../runtime.js';
import { createTrainStep, type TrainStepConfig } from '../step.js';
import { compileInference } from './inference.js';
import { pooledHead } from './trace.fixtures.js';

afterAll(() => setAcceleration(true));

const maxDiff = (a: readonly number[], b: readonly number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
const SHAPE: [number, number, number] = [3, 3, 8];
// Positive features, as after a ReLU, so that GeM's powers are of the values themselves.
const batch = (n: number, seed: number) => tf.randomUniform([n, ...SHAPE], 0, 2, 'float32', seed) as tf.Tensor4D;

/** Three steps from the same weights: the losses, the engine, every weight after. */
async function train(graph: boolean, pool: 'gem' | 'attention', config: TrainStepConfig, convFirst: boolean) {
  setAcceleration(graph);
  const model = pooledHead(pool, SHAPE, 4, 1, convFirst);
  const x = batch(8, 5);
  const y = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32');
  const step = createTrainStep(model, config, 4);
  const results = [];
  for (let i = 0; i < 3; i++) results.push(await step(x, y));
  const engine = step.engine;
  const weights = model.weights.map((w) => ({ name: w.originalName.split('/').at(-1)!, values: Array.from(w.read().dataSync()) }));
  step.dispose();
  tf.dispose([x, y]);
  model.dispose();
  setAcceleration(true);
  return { results, engine, weights };
}

describe('layers traced into the graphs from their tfjs ops (custom layers without a translation)', () => {
  it.each([
    ['gem', 'sgd, momentum', { optimizer: { name: 'sgd', options: { momentum: 0.9 } }, learningRate: 0.1 }, false],
    ['attention', 'sgd, momentum', { optimizer: { name: 'sgd', options: { momentum: 0.9 } }, learningRate: 0.1 }, false],
    ['gem', 'adam', { optimizer: { name: 'adam' }, learningRate: 0.05 }, false],
    ['gem', 'after a convolution (its input gradient traced too), sgd', { optimizer: { name: 'sgd' }, learningRate: 0.1 }, true],
    ['attention', 'after a convolution (its input gradient traced too), sgd', { optimizer: { name: 'sgd' }, learningRate: 0.1 }, true],
  ] as const)('%s trains on the graph with the eager step\'s losses and weights (%s)', async (pool, _what, config, convFirst) => {
    const plain = await train(false, pool, config, convFirst);
    const graph = await train(true, pool, config, convFirst);
    expect(plain.engine?.engine).toBe('eager');
    expect(graph.engine).toEqual({ engine: 'graph' });
    graph.results.forEach((r, i) => {
      expect(r.loss).toBeCloseTo(plain.results[i]!.loss, 5);
      expect(r.correct).toBe(plain.results[i]!.correct);
    });
    plain.weights.forEach(({ name, values }, k) => expect(maxDiff(values, graph.weights[k]!.values), `${k} ${name}`).toBeLessThan(2e-5));
    // Every weight moved (GeM's p included), so agreeing means something.
    const start = pooledHead(pool, SHAPE, 4, 1, convFirst);
    start.weights.forEach((w, k) => expect(maxDiff(graph.weights[k]!.values, Array.from(w.read().dataSync())), w.originalName).toBeGreaterThan(1e-5));
    start.dispose();
  });

  it('traces a layer with two inputs and a weight, with both input gradients', async () => {
    /** a * sigmoid(b * w): a gate of one feature map by another. */
    class Gate extends tf.layers.Layer {
      static className = 'TestGate';
      private w!: tf.LayerVariable;
      override build(): void {
        this.w = this.addWeight('w', [SHAPE[2]], 'float32', tf.initializers.randomNormal({ seed: 3 }));
        this.built = true;
      }
      override computeOutputShape(shape: tf.Shape | tf.Shape[]): tf.Shape {
        return (shape as tf.Shape[])[0]!;
      }
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return tf.tidy(() => {
          const [a, b] = inputs as tf.Tensor[];
          return tf.mul(a!, tf.sigmoid(tf.mul(b!, this.w.read())));
        });
      }
    }
    const run = async (graph: boolean) => {
      setAcceleration(graph);
      const input = tf.input({ shape: SHAPE });
      const conv = (seed: number) => tf.layers.conv2d({ filters: SHAPE[2], kernelSize: 1, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(input) as tf.SymbolicTensor;
      const gated = new Gate({}).apply([conv(1), conv(2)]) as tf.SymbolicTensor;
      const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 4, kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }).apply(tf.layers.flatten().apply(gated)) as tf.SymbolicTensor });
      const [x, y] = [batch(4, 3), tf.tensor1d([0, 1, 2, 3], 'int32')];
      const step = createTrainStep(model, { optimizer: { name: 'sgd' }, learningRate: 0.1 }, 4);
      const losses = [];
      for (let i = 0; i < 2; i++) losses.push((await step(x, y)).loss);
      const engine = step.engine;
      const weights = model.weights.map((w) => Array.from(w.read().dataSync()));
      step.dispose();
      tf.dispose([x, y]);
      model.dispose();
      setAcceleration(true);
      return { engine, losses, weights };
    };
    const [plain, graph] = [await run(false), await run(true)];
    expect(graph.engine).toEqual({ engine: 'graph' });
    graph.losses.forEach((l, i) => expect(l).toBeCloseTo(plain.losses[i]!, 5));
    plain.weights.forEach((w, k) => expect(maxDiff(w, graph.weights[k]!), String(k)).toBeLessThan(2e-5));
  });

  it.each(['gem', 'attention'] as const)('%s infers on the graph as model.predict does, at any batch size', async (pool) => {
    const model = pooledHead(pool, SHAPE, 4);
    const inference = await compileInference(model);
    expect(inference.engine, inference.reason).toBe('graph');
    for (const n of [1, 6]) {
      const x = batch(n, n);
      const eager = model.predict(x) as tf.Tensor;
      const graph = inference.predict(x);
      expect(graph.shape).toEqual([n, 4]);
      expect(maxDiff(Array.from(graph.dataSync()), Array.from(eager.dataSync()))).toBeLessThan(1e-5);
      tf.dispose([x, eager, graph]);
    }
    inference.dispose();
    model.dispose();
  });

  it('traces a built-in layer without a translation too (UpSampling2D)', async () => {
    const input = tf.input({ shape: SHAPE });
    const grown = tf.layers.upSampling2d({ size: [2, 2] }).apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 4 }).apply(tf.layers.flatten().apply(grown)) as tf.SymbolicTensor });
    const inference = await compileInference(model);
    expect(inference.engine, inference.reason).toBe('graph');
    const x = batch(3, 2);
    const [eager, graph] = [model.predict(x) as tf.Tensor, inference.predict(x)];
    expect(maxDiff(Array.from(graph.dataSync()), Array.from(eager.dataSync()))).toBeLessThan(1e-5);
    tf.dispose([x, eager, graph]);
    inference.dispose();
    model.dispose();
  });

  it('keeps the tensor count flat: tracing and training steps', async () => {
    const model = pooledHead('attention', SHAPE, 4);
    const x = batch(4, 1);
    const y = tf.tensor1d([0, 1, 2, 3], 'int32');
    const count = tf.memory().numTensors;
    const step = createTrainStep(model, { optimizer: { name: 'adam' }, learningRate: 0.01 }, 4);
    await step(x, y);
    expect(step.engine).toEqual({ engine: 'graph' });
    // Adam's two slots for each of three weights are the only tensors the step keeps.
    expect(tf.memory().numTensors).toBe(count + 6);
    for (let i = 0; i < 3; i++) await step(x, y);
    expect(tf.memory().numTensors).toBe(count + 6);
    step.dispose();
    tf.dispose([x, y]);
    model.dispose();
  });

  it('refuses a random op, naming it, and the step runs eagerly', async () => {
    class Noisy extends tf.layers.Layer {
      static className = 'TestNoisy';
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return tf.tidy(() => tf.mul(Array.isArray(inputs) ? inputs[0]! : inputs, tf.randomUniform([1, 3, 3, 8])));
      }
    }
    const input = tf.input({ shape: SHAPE });
    const noisy = new Noisy({ name: 'noisy' }).apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 4 }).apply(tf.layers.flatten().apply(noisy)) as tf.SymbolicTensor });
    const step = createTrainStep(model, { optimizer: { name: 'sgd' }, learningRate: 0.1 }, 4);
    const [x, y] = [batch(2, 1), tf.tensor1d([0, 1], 'int32')];
    await step(x, y);
    expect(step.engine).toEqual({ engine: 'eager', reason: 'layer noisy (TestNoisy) op Mul takes a value made in JavaScript that differs between traces (random, read from the data, or shaped by the batch in a way the graph cannot follow)' });
    step.dispose();
    tf.dispose([x, y]);
    model.dispose();
  });
});
