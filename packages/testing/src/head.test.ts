import { describe, expect, it } from 'vitest';
import { defineHead, type HeadDefinition, type OptionsSchema, type HeadBuildContext, type HeadPlugin } from '@headbench/core';
import { UsageError } from '@headbench/errors';
import { layerTranslators, tf, trainTranslators } from '@headbench/engine';
import {
  checkHeadConformance,
  checkHeadInferenceGraph,
  checkHeadNoLeak,
  checkHeadTrainingGraph,
  checkHeadOutputShape,
  checkHeadParamCount,
  checkHeadSeeded,
  checkHeadSerialization,
  checkHeadTwiceInOneModel,
  checkHeadUnsupportedFeatures,
  checkMeta,
  checkOptions,
  ConformanceError,
  describeHeadConformance,
  type FactoryOf,
} from './index.js';

type T = tf.SymbolicTensor;

// A head that keeps the contract: GAP, an optional hidden layer, Dense(classes).
const hiddenSchema = { hidden: { type: 'number', default: 0, integer: true, min: 0, description: 'units of a ReLU layer before the logits (0: none)' } } as const satisfies OptionsSchema;
const good: HeadDefinition<typeof hiddenSchema> = {
  meta: { name: 'good-head', version: '1.2.3-rc.1', description: 'a head that keeps the contract' },
  schema: hiddenSchema,
  build(features, { classes, seed }, { hidden }) {
    let x = tf.layers.globalAveragePooling2d({}).apply(features) as T;
    if (hidden > 0) x = tf.layers.dense({ units: hidden, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }).apply(x) as T;
    return tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(x) as T;
  },
  paramCount: ([, , c], classes, { hidden }) => (hidden > 0 ? c * hidden + hidden + hidden * classes + classes : c * classes + classes),
};
const goodHead = defineHead(good);

/** The good head with one thing changed. */
function headWith(changes: Partial<HeadDefinition<typeof hiddenSchema>>): FactoryOf<HeadPlugin> {
  return defineHead({ ...good, ...changes, meta: { ...good.meta, ...changes.meta } });
}

/**
 * A head made without defineHead (which refuses non-rank-4 features itself), for the checks
 * that a hand-made head must keep on its own.
 */
function rawHeadWith(build: (features: T, context: HeadBuildContext) => T): FactoryOf<HeadPlugin> {
  return () => ({ ...goodHead(), build });
}

/** Runs a check and returns its ConformanceError (failing the test if it passed or threw something else). */
async function failure(check: Promise<void> | (() => void)): Promise<string> {
  try {
    await (typeof check === 'function' ? check() : check);
  } catch (error) {
    expect(error).toBeInstanceOf(ConformanceError);
    return (error as Error).message;
  }
  throw new Error('the check passed, but it should have failed');
}

// The vitest wrapper, on the good head with its defaults and with a hidden layer.
describeHeadConformance(goodHead);
describeHeadConformance(goodHead, { options: { hidden: 4 }, featureShapes: [[2, 2, 4], [5, 3, 6]], classes: [3] });

describe('the head conformance kit', () => {
  it('passes a head that keeps the contract, with every check in one call', async () => {
    await expect(checkHeadConformance(goodHead)).resolves.toBeUndefined();
    await expect(checkHeadConformance(goodHead, { options: { hidden: 3 } })).resolves.toBeUndefined();
  });

  it('fails bad meta, naming the field and the rule', async () => {
    expect(await failure(() => checkMeta(headWith({ meta: { name: 'Bad_Name', version: '1.0.0' } }), 'head'))).toBe(
      'head "Bad_Name", meta: meta.name "Bad_Name" does not match /^[a-z][a-z0-9-]*$/; users type it (--head Bad_Name), so lowercase letters, digits and dashes',
    );
    expect(await failure(() => checkMeta(headWith({ meta: { name: 'v', version: '1.0' } }), 'head'))).toBe(
      'head "v", meta: meta.version "1.0" is not a semantic version such as 1.2.3; read it from the package\'s package.json',
    );
    expect(await failure(() => checkMeta(headWith({ meta: { name: 'd', version: '1.0.0', description: ' ' } }), 'head'))).toBe('head "d", meta: meta.description is string " "; give a sentence or leave it out');
    const backboneAsHead = () => ({ ...goodHead(), meta: { name: 'imposter', version: '1.0.0', kind: 'backbone' } });
    expect(await failure(() => checkMeta(backboneAsHead, 'head'))).toBe('head "imposter", meta: the factory returned backbone plugin "imposter" without featureShape, preprocess');
    const wrongKind = () => ({ ...goodHead(), meta: { name: 'odd', version: '1.0.0', kind: 'neck' } });
    expect(await failure(() => checkMeta(wrongKind, 'head'))).toBe('head "odd", meta: the factory returned plugin "odd" of unknown kind "neck"');
    expect(await failure(() => checkMeta({ build() {} }, 'head'))).toBe(
      'head, meta: the factory is an object with keys build; a plugin package default-exports a function that returns the plugin',
    );
    const needsOptions = (options?: { units: number }) => goodHead({ hidden: options!.units });
    expect(await failure(() => checkMeta(needsOptions, 'head'))).toMatch(/^head needsOptions, meta: calling the factory with no options threw: Cannot read properties of undefined \(reading 'units'\); every option needs a default$/);
    const missingOption = () => ({ ...goodHead(), options: {} });
    expect(await failure(() => checkMeta(missingOption, 'head'))).toBe('head "good-head", meta: options has keys (none) but schema declares hidden; every declared option must be resolved');
  });

  it('fails a head that does not validate its options', async () => {
    // Hand-written instead of defineHead, and forgetting to check what it is given.
    const lax = (options: Record<string, unknown> = {}): HeadPlugin => {
      const plugin = goodHead();
      return { ...plugin, options: { hidden: (options['hidden'] as number | undefined) ?? 0 } };
    };
    expect(await failure(() => checkOptions(lax, 'head'))).toBe(
      'head "good-head", options: an unknown option ({"conformanceUnknownOption":1}) was accepted (options became {"hidden":0}); validate options with resolveOptions or defineHead/defineBackbone',
    );
    const plainError = (options: Record<string, unknown> = {}): HeadPlugin => {
      if (Object.keys(options).some((k) => k !== 'hidden')) throw new Error('bad option');
      return goodHead(options as { hidden?: number });
    };
    expect(await failure(() => checkOptions(plainError, 'head'))).toBe(
      'head "good-head", options: an unknown option ({"conformanceUnknownOption":1}) threw Error "bad option"; expected a UsageError, which the CLI prints without a stack trace',
    );
    const vague = (options: Record<string, unknown> = {}): HeadPlugin => {
      if (Object.keys(options).some((k) => k !== 'hidden')) throw new UsageError('bad option');
      return { ...goodHead(), options: { hidden: (options['hidden'] as number | undefined) ?? 0 } };
    };
    expect(await failure(() => checkOptions(vague, 'head'))).toBe('head "good-head", options: an unknown option ({"conformanceUnknownOption":1}) was refused with "bad option", which does not name the option conformanceUnknownOption');
    // Unknown keys refused, but a string where a number belongs taken as it is.
    const untyped = (options: Record<string, unknown> = {}): HeadPlugin => {
      if (Object.keys(options).some((k) => k !== 'hidden')) throw new UsageError(`good-head: unknown option "${Object.keys(options)[0]}"`);
      return { ...goodHead(), options: { hidden: (options['hidden'] as number | undefined) ?? 0 } };
    };
    expect(await failure(() => checkOptions(untyped, 'head'))).toBe(
      'head "good-head", options: option hidden of the wrong type ({"hidden":"not-a-number"}) was accepted (options became {"hidden":"not-a-number"}); validate options with resolveOptions or defineHead/defineBackbone',
    );
    const badDefault = headWith({ schema: { hidden: { ...hiddenSchema.hidden, default: -1 } } as never });
    expect(await failure(() => checkOptions(badDefault, 'head'))).toBe('head "good-head", options: option hidden: default -1 is below min 0');
    const undescribed = headWith({ schema: { hidden: { ...hiddenSchema.hidden, description: '' } } as never });
    expect(await failure(() => checkOptions(undescribed, 'head'))).toBe('head "good-head", options: option hidden: has no description (the CLI and docs show it)');
  });

  it('fails a wrong output shape, naming the features, the classes and what came out', async () => {
    const offByOne = headWith({ build: (f, { classes, seed }) => good.build(f, { classes: classes + 1, featureShape: [1, 1, 1], seed }, { hidden: 0 }) });
    expect(await failure(checkHeadOutputShape(offByOne))).toBe('head "good-head", output shape: features [null, 1, 1, 8] with 2 classes gave [null, 3]; expected [null, 2] (a logit per class, no softmax)');
    const unpooled = headWith({ build: (f, { classes, seed }) => tf.layers.conv2d({ filters: classes, kernelSize: 1, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(f) as T });
    expect(await failure(checkHeadOutputShape(unpooled, { featureShapes: [[3, 3, 16]], classes: [5] }))).toBe(
      'head "good-head", output shape: features [null, 3, 3, 16] with 5 classes gave [null, 3, 3, 5]; expected [null, 5] (a logit per class, no softmax)',
    );
    const concrete = headWith({ build: () => tf.zeros([1, 2]) as unknown as T });
    expect(await failure(checkHeadOutputShape(concrete))).toBe(
      'head "good-head", output shape: build returned object for features [null, 1, 1, 8]; expected the symbolic tensor of logits (layer.apply(features))',
    );
    const nan = headWith({ build: (f, c) => tf.layers.dense({ units: c.classes, kernelInitializer: tf.initializers.constant({ value: Number.NaN }) }).apply(tf.layers.flatten().apply(f)) as T });
    expect(await failure(checkHeadOutputShape(nan))).toBe('head "good-head", output shape: features [null, 1, 1, 8] with 2 classes: predicting gave values that are not finite');
  });

  it('fails a head that ignores the seed', async () => {
    const unseeded = headWith({ build: (f, { classes }) => tf.layers.dense({ units: classes }).apply(tf.layers.globalAveragePooling2d({}).apply(f)) as T });
    expect(await failure(checkHeadSeeded(unseeded))).toMatch(
      /^head "good-head", seeded initialisation: two builds with seed 5 gave different values for weight 0 \(dense_Dense\d+\/kernel\); seed every initialiser from context.seed, e.g. tf.initializers.glorotUniform\(\{ seed \}\)$/,
    );
  });

  it('fails a paramCount that disagrees with the built model, with the layer breakdown', async () => {
    const noBias = headWith({ paramCount: ([, , c], classes) => c * classes });
    expect(await failure(checkHeadParamCount(noBias))).toMatch(
      /^head "good-head", parameter count: paramCount\(\[1, 1, 8\], 2\) says 16 but the built head has 18 parameters \(global_average_pooling2d_GlobalAveragePooling2D\d+ 0, dense_Dense\d+ 18\)$/,
    );
    const notANumber = headWith({ paramCount: () => Number.NaN });
    expect(await failure(checkHeadParamCount(notANumber))).toMatch(/paramCount\(\[1, 1, 8\], 2\) says null but the built head has 18 parameters/);
    const throws = headWith({ paramCount: () => { throw new Error('todo'); } });
    expect(await failure(checkHeadParamCount(throws))).toBe('head "good-head", parameter count: paramCount([1, 1, 8], 2) threw: todo');
    // Without paramCount, the built count must still match the head's own layers: it does here.
    await expect(checkHeadParamCount(headWith({ paramCount: undefined }))).resolves.toBeUndefined();
  });

  it('fails a head whose fixed layer names clash when it is built twice in one model', async () => {
    const named = headWith({ build: (f, { classes, seed }) => tf.layers.dense({ name: 'logits', units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(tf.layers.flatten().apply(f)) as T });
    expect(await failure(checkHeadTwiceInOneModel(named))).toMatch(
      /^head "good-head", two heads in one model: two heads on one input do not make one model: .*The name "logits" is used 2 times in the model.*; leave layer names to tfjs \(it makes them unique\) or make them unique yourself$/,
    );
  });

  it('fails a head that leaks a tensor on every training step', async () => {
    // Keeps a tensor on each call, as a layer caching something outside tf.tidy would.
    class Leaky extends tf.layers.Layer {
      static readonly className = 'Leaky';
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        tf.keep(tf.ones([1]));
        return tf.clone(Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs);
      }
    }
    const leaky = headWith({ build: (f, context) => new Leaky({}).apply(good.build(f, context, { hidden: 0 })) as T });
    // Its call is traced into the training graph (four calls while the step is built, none per
    // step), so what it keeps shows when the model is disposed.
    expect(await failure(checkHeadNoLeak(leaky))).toBe(
      'head "good-head", no tensor leak: disposing the model and the optimizer left 4 tensors that building the head created; a layer holds tensors it does not dispose',
    );
    // Run eagerly (a random op the trace refuses), it leaks at every step.
    class LeakyNoisy extends tf.layers.Layer {
      static readonly className = 'LeakyNoisy';
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        tf.keep(tf.ones([1]));
        return tf.tidy(() => tf.add(Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs, tf.mul(tf.randomUniform([1]), 0)));
      }
    }
    const leakyEager = headWith({ build: (f, context) => new LeakyNoisy({}).apply(good.build(f, context, { hidden: 0 })) as T });
    expect(await failure(checkHeadNoLeak(leakyEager))).toMatch(
      /^head "good-head", no tensor leak: tensors after each of 4 SGD steps: (\d+), \d+, \d+, \d+; after the first step the count must stay at \1, but step 2 left 1 more \(a layer keeps or creates tensors outside tf.tidy\)$/,
    );
    class Broken extends tf.layers.Layer {
      static readonly className = 'Broken';
      override call(): tf.Tensor {
        throw new Error('not implemented in training');
      }
    }
    const broken = headWith({ build: (f, context) => new Broken({}).apply(good.build(f, context, { hidden: 0 })) as T });
    expect(await failure(checkHeadNoLeak(broken))).toBe('head "good-head", no tensor leak: SGD step 1 threw: not implemented in training');
    const strayConstant = headWith({ build: (f, context) => (tf.scalar(2), good.build(f, context, { hidden: 0 })) });
    expect(await failure(checkHeadNoLeak(strayConstant))).toBe(
      'head "good-head", no tensor leak: disposing the model and the optimizer left 1 tensors that building the head created; a layer holds tensors it does not dispose',
    );
  });

  it('fails a head that does not survive save and load', async () => {
    class Unregistered extends tf.layers.Layer {
      static readonly className = 'HeadbenchUnregisteredLayer';
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return tf.clone(Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs);
      }
    }
    const custom = headWith({ build: (f, context) => new Unregistered({}).apply(good.build(f, context, { hidden: 0 })) as T });
    expect(await failure(checkHeadSerialization(custom))).toMatch(
      /^head "good-head", save and load: tf.loadLayersModel could not rebuild the saved model: Unknown layer: HeadbenchUnregisteredLayer\..*; use tfjs layers, or give a custom layer a static className and tf.serialization.registerClass it$/s,
    );
  });

  it('fails a head whose inference cannot run as a graph, unless it says so, and a translation that computes something else', async () => {
    /** Copies its input through JavaScript: nothing a traced graph can follow. */
    class RoundTrip extends tf.layers.Layer {
      static readonly className = 'HeadbenchTestRoundTrip';
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        const x = Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
        return tf.tensor(x.dataSync(), x.shape);
      }
    }
    const roundTrip = headWith({ build: (f, context) => good.build(new RoundTrip({ name: 'copy' }).apply(f) as T, context, { hidden: 0 }) });
    expect(await failure(checkHeadInferenceGraph(roundTrip))).toBe(
      'head "good-head", inference graph: inference runs eagerly, op by op: layer copy (HeadbenchTestRoundTrip) could not be traced into a graph: reads tensor values back in JavaScript (dataSync, arraySync, ...), which a graph cannot follow; write the layer\'s call with tfjs ops a trace can follow, add a translator for that layer class to layerTranslators from @headbench/core, or pass { eagerInference: true } to the kit to accept the slower path',
    );
    await expect(checkHeadInferenceGraph(roundTrip, { eagerInference: true })).resolves.toBeUndefined();

    class Doubler extends tf.layers.Layer {
      static readonly className = 'HeadbenchTestDoubler';
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return tf.mul(Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs, 2);
      }
    }
    const doubled = headWith({ build: (f, context) => new Doubler({}).apply(good.build(f, context, { hidden: 0 })) as T });
    layerTranslators['HeadbenchTestDoubler'] = (layer, { graph, inputs }) => graph.unary('Identity', layer.name, inputs[0] as string);
    try {
      expect(await failure(checkHeadInferenceGraph(doubled))).toMatch(
        /^head "good-head", inference graph: the inference graph's outputs differ from model.predict's by up to [\d.e-]+; a layer's translation does not compute what its call does$/,
      );
      layerTranslators['HeadbenchTestDoubler'] = (layer, { graph, inputs }) => graph.binary('AddV2', layer.name, inputs[0] as string, inputs[0] as string);
      await expect(checkHeadInferenceGraph(doubled)).resolves.toBeUndefined();
    } finally {
      delete layerTranslators['HeadbenchTestDoubler'];
    }
  });

  it('passes both graph checks for a custom layer written with tfjs ops, with no translation and no eager flag (traced)', async () => {
    /** GeM pooling with a learnable p: (mean of max(x, eps)^p)^(1/p). */
    class GeM extends tf.layers.Layer {
      static readonly className = 'HeadbenchTestGeM';
      private p!: tf.LayerVariable;
      override build(): void {
        this.p = this.addWeight('p', [1], 'float32', tf.initializers.constant({ value: 3 }));
        this.built = true;
      }
      override computeOutputShape(shape: tf.Shape | tf.Shape[]): tf.Shape {
        return [(shape as tf.Shape)[0]!, (shape as tf.Shape)[3]!];
      }
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return tf.tidy(() => {
          const p = this.p.read();
          return tf.pow(tf.mean(tf.pow(tf.maximum(Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs, 1e-6), p), [1, 2]), tf.div(1, p));
        });
      }
    }
    const gem = rawHeadWith((f, { classes, seed }) => tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(new GeM({}).apply(f)) as T);
    await expect(checkHeadInferenceGraph(gem)).resolves.toBeUndefined();
    await expect(checkHeadTrainingGraph(gem)).resolves.toBeUndefined();
  });

  it('fails a head whose training step cannot run as a graph, unless it says so', async () => {
    const dropping = headWith({ build: (f, context) => good.build(tf.layers.dropout({ rate: 0.3, name: 'drop' }).apply(f) as T, context, { hidden: 0 }) });
    expect(await failure(checkHeadTrainingGraph(dropping))).toBe(
      'head "good-head", training graph: the training step runs eagerly, op by op: layer drop (Dropout) drops units at random in training, which the training graph does not do; write the layer\'s call with tfjs ops a trace can follow, add a training translator for that layer class to trainTranslators from @headbench/core, or pass { eagerTraining: true } to the kit to accept the slower path',
    );
    await expect(checkHeadTrainingGraph(dropping, { eagerTraining: true })).resolves.toBeUndefined();
    await expect(checkHeadTrainingGraph(headWith({}), { options: { hidden: 8 } })).resolves.toBeUndefined();

    // A layer doubling its input, whose training translation forgets the 2 in its gradient.
    class Doubler extends tf.layers.Layer {
      static readonly className = 'HeadbenchTestTrainDoubler';
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return tf.mul(Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs, 2);
      }
    }
    const doubled = headWith({
      build: (f, { classes, seed }) => {
        const hidden = tf.layers.dense({ units: 4, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(tf.layers.globalAveragePooling2d({}).apply(f)) as T;
        return tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }).apply(new Doubler({ name: 'twice' }).apply(hidden)) as T;
      },
    });
    trainTranslators['HeadbenchTestTrainDoubler'] = (layer, { graph, inputs }) => ({
      output: graph.binary('AddV2', layer.name, inputs[0] as string, inputs[0] as string),
      backward: (dy) => ({ inputs: [dy], weights: [] }),
    });
    try {
      expect(await failure(checkHeadTrainingGraph(doubled))).toMatch(
        /^head "good-head", training graph: after one SGD step, weight 0 \(.*kernel\) differs from the eager step's by up to [\d.e-]+; a layer's training translation does not compute what its call and gradient do$/,
      );
    } finally {
      delete trainTranslators['HeadbenchTestTrainDoubler'];
    }
  });

  it('fails a head that lets tfjs fail on features it cannot take, or takes features it declared it cannot', async () => {
    expect(await failure(checkHeadUnsupportedFeatures(rawHeadWith((f, { classes, seed }) => tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(tf.layers.globalAveragePooling2d({}).apply(f)) as T)))).toMatch(
      /^head "good-head", unsupported features: building on features \[null, 16\] threw "Input 0 is incompatible with layer global_average_pooling2d_GlobalAveragePooling2D\d+: expected ndim=4, found ndim=2", which does not name the head \("good-head"\) and the shape \(16\); check the features first and throw, e.g. new UsageError\(`good-head: expects features \[batch, height, width, channels\], got \[\$\{features\.shape\.map\(\(d\) => d \?\? 'batch'\)\.join\(', '\)\}\]`\)$/,
    );
    expect(await failure(checkHeadUnsupportedFeatures(goodHead, { unsupportedFeatureShapes: [[1, 1, 8]] }))).toBe(
      'head "good-head", unsupported features: building on features [null, 1, 1, 8], declared unsupported, returned [null, 3] instead of throwing',
    );
    // Rank-2 features may also just work, as long as they give [batch, classes].
    const anyRank = rawHeadWith((f, { classes, seed }) => tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(f.shape.length === 4 ? tf.layers.flatten().apply(f) : f) as T);
    await expect(checkHeadUnsupportedFeatures(anyRank)).resolves.toBeUndefined();
    const passThrough = rawHeadWith((f) => tf.layers.activation({ activation: 'linear' }).apply(f) as T);
    expect(await failure(checkHeadUnsupportedFeatures(passThrough))).toBe(
      'head "good-head", unsupported features: building on features [null, 16] returned [null, 16]; build [batch, 3] or throw an error naming the head and the shape',
    );
  });

  it('refuses features that are not rank 4 by name, for every head made with defineHead', async () => {
    await expect(checkHeadUnsupportedFeatures(headWith({ build: (f, { classes }) => tf.layers.dense({ units: classes }).apply(tf.layers.flatten().apply(f)) as T }))).resolves.toBeUndefined();
  });

  it('lists every failure of a head at once', async () => {
    const bad = headWith({ build: (f, { classes }) => tf.layers.dense({ units: classes }).apply(tf.layers.flatten().apply(f)) as T, paramCount: () => 1 });
    const message = await failure(checkHeadConformance(bad));
    expect(message.split('\n')).toEqual([
      '2 conformance check(s) failed:',
      expect.stringMatching(/^- head "good-head", seeded initialisation: /),
      expect.stringMatching(/^- head "good-head", parameter count: paramCount\(\[1, 1, 8\], 2\) says 1 /),
    ]);
  });
});
