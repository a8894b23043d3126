import { describe, expect, it } from 'vitest';
import { defineBackbone, type BackboneDefinition, type Backbone, type BackbonePlugin } from '@headbench/core';
import { UsageError } from '@headbench/errors';
import { tf } from '@headbench/engine';
import {
  checkBackboneBuildTwice,
  checkBackboneConformance,
  checkBackboneFeatureShape,
  checkBackboneNoLeak,
  checkBackbonePreprocess,
  checkBackboneUnsupportedInputSizes,
  checkMeta,
  checkOptions,
  ConformanceError,
  describeBackboneConformance,
  type FactoryOf,
} from './index.js';

type T = tf.SymbolicTensor;
const schema = { width: { type: 'number', default: 4, oneOf: [4, 8], description: 'channels of the feature map' } } as const;

function checkSize(size: number): void {
  if (!Number.isInteger(size) || size < 8 || size % 4 !== 0) throw new UsageError(`tiny: input size ${size} is not supported; give a multiple of 4, at least 8`);
}

// A backbone that keeps the contract: two seeded stride-2 convolutions with BatchNorm.
const good: BackboneDefinition<typeof schema> = {
  meta: { name: 'tiny', version: '0.1.0' },
  schema,
  featureShape: (size, { width }) => (checkSize(size), [size / 4, size / 4, width]),
  preprocess: (images) => tf.tidy(() => images.div(127.5).sub(1)),
  async build({ inputSize, seed }, { width }) {
    checkSize(inputSize);
    const input = tf.input({ shape: [inputSize, inputSize, 3] });
    let x = tf.layers.conv2d({ filters: width, kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(input) as T;
    x = tf.layers.batchNormalization({}).apply(x) as T;
    x = tf.layers.conv2d({ filters: width, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }).apply(x) as T;
    return { model: tf.model({ inputs: input, outputs: x }), featureShape: [inputSize / 4, inputSize / 4, width], weights: 'random' };
  },
};
const tiny = defineBackbone(good);
const backboneWith = (changes: Partial<BackboneDefinition<typeof schema>>): FactoryOf<BackbonePlugin> => defineBackbone({ ...good, ...changes });
const cheap = { inputSizes: [8, 16] };

async function failure(check: Promise<void> | (() => void)): Promise<string> {
  try {
    await (typeof check === 'function' ? check() : check);
  } catch (error) {
    expect(error).toBeInstanceOf(ConformanceError);
    return (error as Error).message;
  }
  throw new Error('the check passed, but it should have failed');
}

describeBackboneConformance(tiny, { ...cheap, unsupportedInputSizes: [4, 10] });
describeBackboneConformance(tiny, { options: { width: 8 }, inputSizes: [12] });

describe('the backbone conformance kit', () => {
  it('passes a backbone that keeps the contract, with every check in one call', async () => {
    await expect(checkBackboneConformance(tiny, cheap)).resolves.toBeUndefined();
  });

  it('fails bad meta and unvalidated options', async () => {
    expect(await failure(() => checkMeta(backboneWith({ meta: { name: 'tiny cnn', version: '0.1.0' } }), 'backbone'))).toBe(
      'backbone "tiny cnn", meta: meta.name "tiny cnn" does not match /^[a-z][a-z0-9-]*$/; users type it (--backbone tiny cnn), so lowercase letters, digits and dashes',
    );
    const noPreprocess = () => ({ ...tiny(), preprocess: undefined });
    expect(await failure(() => checkMeta(noPreprocess, 'backbone'))).toBe('backbone "tiny", meta: the factory returned backbone plugin "tiny" without preprocess');
    const lax = (options: Record<string, unknown> = {}) => ({ ...tiny(), options: { width: 4, ...options } });
    expect(await failure(() => checkOptions(lax, 'backbone'))).toBe(
      'backbone "tiny", options: an unknown option ({"conformanceUnknownOption":1}) was accepted (options became {"width":4,"conformanceUnknownOption":1}); validate options with resolveOptions or defineHead/defineBackbone',
    );
  });

  it('fails a featureShape that is not what build outputs', async () => {
    const wrong = backboneWith({ featureShape: (size, { width }) => [size / 2, size / 2, width] });
    expect(await failure(checkBackboneFeatureShape(wrong, cheap))).toBe(
      'backbone "tiny", feature shape: featureShape(8) says [4, 4, 4] but the built model outputs [null, 2, 2, 4]; expected one [null, 4, 4, 4]',
    );
    const selfContradicting = backboneWith({ build: async (context, options) => ({ ...(await good.build(context, options)), featureShape: [1, 1, 1] }) });
    expect(await failure(checkBackboneFeatureShape(selfContradicting, cheap))).toBe('backbone "tiny", feature shape: at 8px build() reports featureShape [1, 1, 1] but featureShape(8) says [2, 2, 4]');
    const grey = backboneWith({
      build: async ({ inputSize }) => {
        const input = tf.input({ shape: [inputSize, inputSize, 1] });
        return { model: tf.model({ inputs: input, outputs: tf.layers.averagePooling2d({ poolSize: 4 }).apply(input) as T }), featureShape: [inputSize / 4, inputSize / 4, 4], weights: 'random' };
      },
    });
    expect(await failure(checkBackboneFeatureShape(grey, cheap))).toBe("backbone \"tiny\", feature shape: at 8px the model's inputs are [null, 8, 8, 1]; expected one [null, 8, 8, 3]");
  });

  it('fails a preprocess that disposes its input, leaks, or loses the pixels', async () => {
    const disposes = backboneWith({ preprocess: (images) => { const out = tf.tidy(() => images.div(127.5).sub(1)) as tf.Tensor4D; images.dispose(); return out; } });
    expect(await failure(checkBackbonePreprocess(disposes, cheap))).toBe('backbone "tiny", preprocess: preprocess disposed its input; the caller owns it (and uses it again)');
    const leaks = backboneWith({ preprocess: (images) => images.div(127.5).sub(1) });
    expect(await failure(checkBackbonePreprocess(leaks, cheap))).toBe('backbone "tiny", preprocess: preprocess left 1 tensors besides its output; compute it inside tf.tidy');
    const nan = backboneWith({ preprocess: (images) => tf.tidy(() => images.div(images)) });
    expect(await failure(checkBackbonePreprocess(nan, cheap))).toBe('backbone "tiny", preprocess: preprocess of values in [0, 255] gave values that are not finite');
    const constant = backboneWith({ preprocess: (images) => tf.zerosLike(images) });
    expect(await failure(checkBackbonePreprocess(constant, cheap))).toBe('backbone "tiny", preprocess: preprocess maps all of [0, 255] to 0; it must keep the pixels apart');
    const resizes = backboneWith({ preprocess: (images) => tf.tidy(() => tf.image.resizeBilinear(images, [4, 4])) });
    expect(await failure(checkBackbonePreprocess(resizes, cheap))).toBe('backbone "tiny", preprocess: preprocess of [2, 8, 8, 3] images returned [2, 4, 4, 3]; expected the same shape');
  });

  it('fails builds that share a model or ignore the seed', async () => {
    let cached: Backbone | undefined;
    const shared = backboneWith({ build: async (context, options) => (cached ??= await good.build(context, options)) });
    expect(await failure(checkBackboneBuildTwice(shared, cheap))).toBe(
      'backbone "tiny", build twice: two builds returned the same model; each build makes a new one (a run builds one per combination and disposes it)',
    );
    const unseeded = backboneWith({
      build: async (context, options) => good.build({ ...context, seed: Math.floor(Math.random() * 1e9) }, options),
    });
    expect(await failure(checkBackboneBuildTwice(unseeded, cheap))).toMatch(
      /^backbone "tiny", build twice: two builds with seed 1 give features that differ by up to [\d.e-]+; seed every initialiser from context.seed \(or set deterministic: false if the weights cannot be seeded\)$/,
    );
    await expect(checkBackboneBuildTwice(unseeded, { ...cheap, deterministic: false })).resolves.toBeUndefined();
  });

  it('fails a backbone that leaks a tensor on every training step', async () => {
    // The random op keeps the layer off the traced graph, so its call runs (and leaks) at every step.
    class Leaky extends tf.layers.Layer {
      static readonly className = 'LeakyBackboneLayer';
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        tf.keep(tf.ones([2]));
        return tf.tidy(() => tf.add(Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs, tf.mul(tf.randomUniform([1]), 0)));
      }
    }
    const leaky = backboneWith({
      build: async (context, options) => {
        const { model, ...rest } = await good.build(context, options);
        return { ...rest, model: tf.model({ inputs: model.inputs, outputs: new Leaky({}).apply(model.outputs[0] as T) as T }) };
      },
    });
    expect(await failure(checkBackboneNoLeak(leaky, cheap))).toMatch(
      /^backbone "tiny", no tensor leak: tensors after each of 3 SGD steps: (\d+), \d+, \d+; after the first step the count must stay at \1, but step 2 left 1 more \(a layer keeps or creates tensors outside tf.tidy\)$/,
    );
  });

  it('fails a backbone that takes input sizes it cannot, or refuses them without a UsageError naming the size', async () => {
    const anything = backboneWith({ featureShape: (size, { width }) => [Math.ceil(size / 4), Math.ceil(size / 4), width] });
    expect(await failure(checkBackboneUnsupportedInputSizes(anything, cheap))).toBe(
      'backbone "tiny", unsupported input sizes: featureShape(0) returned [0, 0, 4]; an input size it cannot take must throw a UsageError that names the size',
    );
    const plain = backboneWith({ featureShape: () => { throw new RangeError('bad size'); } });
    expect(await failure(checkBackboneUnsupportedInputSizes(plain, cheap))).toBe(
      'backbone "tiny", unsupported input sizes: featureShape(0) threw RangeError "bad size"; expected a UsageError, which the CLI prints without a stack trace',
    );
    const vague = backboneWith({ featureShape: () => { throw new UsageError('tiny: unsupported'); } });
    expect(await failure(checkBackboneUnsupportedInputSizes(vague, cheap))).toBe('backbone "tiny", unsupported input sizes: featureShape(0) was refused with "tiny: unsupported", which does not name the size 0');
    const buildsAnyway = backboneWith({ build: async ({ inputSize, seed }, options) => good.build({ inputSize: Math.max(8, Math.round(inputSize / 4) * 4), seed }, options) });
    expect(await failure(checkBackboneUnsupportedInputSizes(buildsAnyway, cheap))).toBe(
      'backbone "tiny", unsupported input sizes: build({ inputSize: 0 }) built a model although featureShape(0) refuses the size',
    );
    expect(await failure(checkBackboneUnsupportedInputSizes(tiny, { unsupportedInputSizes: [12] }))).toBe(
      'backbone "tiny", unsupported input sizes: featureShape(12) returned [3, 3, 4]; an input size it cannot take must throw a UsageError that names the size',
    );
  });
});
