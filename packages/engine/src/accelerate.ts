// Routes the two slowest parts of a MobileNet-style training step in tfjs to TensorFlow's own
// fused kernels. Measured on a MobileNetV2 0.35 @96 step (docs/performance.md): ReLU6 in
// tfjs-layers is relu + clipByValue, whose gradient is Step/Select/LogicalAnd kernels; training
// BatchNorm is moments + batchNorm, whose JavaScript gradient issues hundreds of elementwise ops.
// TensorFlow has Relu6 / Relu6Grad and FusedBatchNormV3 / FusedBatchNormGradV3 for exactly these.
//
// Inference-mode BatchNorm is folded into a per-channel scale and offset (one multiply, one
// add), which TensorFlow's CPU kernels run faster than its fused inference kernel.
//
// While recording a gradient, tfjs saves each kernel's inputs and outputs for the backward pass
// by cloning them through a full kernel dispatch and a tape entry of their own (about a thousand
// per MobileNetV2 step). At the first order of differentiation those entries are never walked,
// so a saved tensor here is a new handle on the same data, made directly.
//
// The layers' own classes are patched, so every model built with tf.layers (a contributor's
// head included) gets the fast path without knowing about it. Anything the fused kernels do not
// cover (other axes or ranks, no centre or scale, non-float inputs, another backend) falls back
// to tfjs' original code.
import './load-tensorflow.js';
import * as tf from '@tensorflow/tfjs-node';

const RELU6_GRAD = 'HeadbenchRelu6Grad';
const BN_TRAIN = 'HeadbenchFusedBatchNormTrain';
const BN_GRAD = 'HeadbenchFusedBatchNormGrad';

interface NodeBackend {
  binding: Record<string, number>;
  executeSingleOutput(name: string, attrs: unknown[], inputs: tf.TensorInfo[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: unknown[], inputs: tf.TensorInfo[], outputs: number): tf.Tensor[];
}

const floatAttr = (b: NodeBackend, name: string) => ({ name, type: b.binding['TF_ATTR_TYPE'], value: b.binding['TF_FLOAT'] });

function bnAttrs(b: NodeBackend, epsilon: number, withAvgFactor: boolean) {
  return [
    floatAttr(b, 'T'),
    floatAttr(b, 'U'),
    { name: 'epsilon', type: b.binding['TF_ATTR_FLOAT'], value: epsilon },
    ...(withAvgFactor ? [{ name: 'exponential_avg_factor', type: b.binding['TF_ATTR_FLOAT'], value: 1 }] : []),
    { name: 'data_format', type: b.binding['TF_ATTR_STRING'], value: 'NHWC' },
    { name: 'is_training', type: b.binding['TF_ATTR_BOOL'], value: true },
  ];
}

let kernelsRegistered = false;

function registerKernels(): void {
  if (kernelsRegistered) return;
  kernelsRegistered = true;
  tf.registerKernel({
    kernelName: RELU6_GRAD,
    backendName: 'tensorflow',
    kernelFunc: ({ inputs, backend }) => {
      const b = backend as unknown as NodeBackend;
      return b.executeSingleOutput('Relu6Grad', [floatAttr(b, 'T')], [inputs['dy'] as tf.TensorInfo, inputs['x'] as tf.TensorInfo]);
    },
  });
  tf.registerKernel({
    kernelName: BN_TRAIN,
    backendName: 'tensorflow',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as NodeBackend;
      const empty = tf.tensor1d([]);
      const [y, batchMean, batchVariance, mean, variance, reserve] = b.executeMultipleOutputs(
        'FusedBatchNormV3',
        bnAttrs(b, attrs?.['epsilon'] as number, true),
        [inputs['x'] as tf.TensorInfo, inputs['scale'] as tf.TensorInfo, inputs['offset'] as tf.TensorInfo, empty, empty],
        6,
      );
      // batch_variance is Bessel-corrected; Keras 3 and tfjs average the biased variance, which
      // the CPU kernel returns as reserve_space_2.
      tf.dispose([empty, batchMean as tf.Tensor, batchVariance as tf.Tensor]);
      return [y, mean, variance, reserve] as tf.TensorInfo[];
    },
  });
  tf.registerKernel({
    kernelName: BN_GRAD,
    backendName: 'tensorflow',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as NodeBackend;
      const names = ['dy', 'x', 'scale', 'mean', 'variance', 'reserve'];
      const outs = b.executeMultipleOutputs('FusedBatchNormGradV3', bnAttrs(b, attrs?.['epsilon'] as number, false), names.map((n) => inputs[n] as tf.TensorInfo), 5);
      tf.dispose([outs[3] as tf.Tensor, outs[4] as tf.Tensor]);
      return outs.slice(0, 3) as tf.TensorInfo[];
    },
  });
  tf.registerGradient({
    kernelName: BN_TRAIN,
    inputsToSave: ['x', 'scale'],
    outputsToSave: [false, true, true, true],
    gradFunc: (dy, saved, attrs) => {
      const [x, scale, mean, variance, reserve] = saved as tf.Tensor[];
      const dY = Array.isArray(dy) ? (dy[0] as tf.Tensor) : dy;
      const grads = tf.engine().runKernel(BN_GRAD, { dy: dY, x: x!, scale: scale!, mean: mean!, variance: variance!, reserve: reserve! }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
      return { x: () => grads[0]!, scale: () => grads[1]!, offset: () => grads[2]! };
    },
  });
}

/**
 * Batch normalisation in training mode with TensorFlow's fused kernels: the normalised output
 * and the batch mean and (biased) variance for the moving averages, differentiable in x, scale
 * and offset.
 */
export function fusedBatchNormTraining(x: tf.Tensor4D, scale: tf.Tensor1D, offset: tf.Tensor1D, epsilon: number): [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D] {
  registerKernels();
  const [y, mean, variance, reserve] = tf.engine().runKernel(BN_TRAIN, { x, scale, offset }, { epsilon }) as tf.Tensor[];
  reserve?.dispose();
  return [y as tf.Tensor4D, mean as tf.Tensor1D, variance as tf.Tensor1D];
}

interface Patch {
  target: Record<string, unknown>;
  key: string;
  original: unknown;
  replacement: unknown;
}

const patches: Patch[] = [];
let original: { relu6Grad: tf.GradConfig } | undefined;

type LayerCall = (this: Record<string, unknown>, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

function prototypeOf(instance: object): Record<string, unknown> {
  return Object.getPrototypeOf(instance) as Record<string, unknown>;
}

function preparePatches(): void {
  if (patches.length) return;
  const reluProto = prototypeOf(tf.layers.reLU({ maxValue: 6 }));
  const reluCall = reluProto['call'] as LayerCall;
  const fastRelu: LayerCall = function (inputs, kwargs) {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (this['maxValue'] !== 6 || !x || x.dtype !== 'float32') return reluCall.call(this, inputs, kwargs);
    return tf.relu6(x);
  };
  patches.push({ target: reluProto, key: 'call', original: reluCall, replacement: fastRelu });

  const activation = (tf.layers.activation({ activation: 'relu6' }) as unknown as { activation: object }).activation;
  const relu6Proto = prototypeOf(activation);
  const relu6Apply = relu6Proto['apply'] as (x: tf.Tensor) => tf.Tensor;
  patches.push({ target: relu6Proto, key: 'apply', original: relu6Apply, replacement: (x: tf.Tensor) => (x.dtype === 'float32' ? tf.relu6(x) : relu6Apply(x)) });

  const bnProto = prototypeOf(tf.layers.batchNormalization({}));
  const bnCall = bnProto['call'] as LayerCall;
  const fastBn: LayerCall = function (inputs, kwargs) {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const axis = this['axis'] as number;
    const applies = x?.rank === 4 && x.dtype === 'float32' && (axis === -1 || axis === 3) && this['center'] && this['scale'];
    if (!applies) return bnCall.call(this, inputs, kwargs);
    const read = (name: string) => (this[name] as tf.LayerVariable).read();
    if (kwargs?.['training'] !== true) {
      // Inference: TensorFlow's FusedBatchNorm kernels are about 2.5x slower on CPU than one
      // multiply and one add with the statistics folded into a per-channel scale and offset.
      return tf.tidy(() => {
        const scale = tf.mul(read('gamma'), tf.rsqrt(tf.add(read('movingVariance'), this['epsilon'] as number)));
        const offset = tf.sub(read('beta'), tf.mul(read('movingMean'), scale));
        return tf.add(tf.mul(x as tf.Tensor4D, scale), offset);
      });
    }
    return tf.tidy(() => {
      const [y, mean, variance] = fusedBatchNormTraining(x as tf.Tensor4D, read('gamma') as tf.Tensor1D, read('beta') as tf.Tensor1D, this['epsilon'] as number);
      // The same moving-average update as tfjs-layers and Keras: moving -= (moving - batch) * (1 - momentum).
      const decay = 1 - (this['momentum'] as number);
      for (const [name, value] of [['movingMean', mean], ['movingVariance', variance]] as const) {
        const variable = this[name] as tf.LayerVariable;
        tf.tidy(() => {
          const current = variable.read();
          variable.write(tf.sub(current, tf.mul(tf.sub(current, value), decay)));
        });
      }
      return y;
    });
  };
  patches.push({ target: bnProto, key: 'call', original: bnCall, replacement: fastBn });

  // tfjs-core's Engine.clone, used only to save tensors for the backward pass.
  const engine = tf.engine() as unknown as Record<string, unknown> & { state: EngineState; makeTensorFromTensorInfo(info: tf.TensorInfo, backend: unknown): tf.Tensor };
  const clone = engine['clone'] as (x: tf.Tensor) => tf.Tensor;
  const savedHandle = function (this: typeof engine, x: tf.Tensor): tf.Tensor {
    // Inside a gradient of a gradient the saved tensors are differentiated too: keep tfjs' way.
    if (this.state.gradientDepth > 1) return clone.call(this, x);
    const info = this.state.tensorInfo.get(x.dataId);
    if (!info) return clone.call(this, x);
    info.backend.incRef(x.dataId);
    return this.makeTensorFromTensorInfo({ dataId: x.dataId, shape: x.shape, dtype: x.dtype }, info.backend);
  };
  patches.push({ target: engine, key: 'clone', original: clone, replacement: savedHandle });
}

interface EngineState {
  gradientDepth: number;
  tensorInfo: WeakMap<object, { backend: { incRef(dataId: object): void } }>;
}

function relu6GradConfig(): tf.GradConfig {
  return {
    kernelName: 'Relu6',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved as tf.Tensor[];
      return { x: () => tf.engine().runKernel(RELU6_GRAD, { dy: dy as tf.Tensor, x: x! }, {}) as tf.Tensor };
    },
  };
}

/** Whether the fused kernels are in use (they are by default on the tensorflow backend). */
export function accelerationEnabled(): boolean {
  return original !== undefined;
}

/**
 * Turns the fused kernels on or off for the whole process; off gives tfjs' own implementation,
 * for A/B measurements and numerics checks. A no-op on backends other than `tensorflow`.
 */
export function setAcceleration(enabled: boolean): void {
  if (enabled === accelerationEnabled()) return;
  if (enabled) {
    if (tf.getBackend() !== 'tensorflow') return;
    registerKernels();
    preparePatches();
    const current = tf.getGradient('Relu6');
    if (!current) throw new Error('tfjs has no gradient registered for Relu6');
    original = { relu6Grad: current };
    tf.registerGradient(relu6GradConfig());
    for (const p of patches) p.target[p.key] = p.replacement;
  } else {
    for (const p of patches) p.target[p.key] = p.original;
    tf.registerGradient((original as { relu6Grad: tf.GradConfig }).relu6Grad);
    original = undefined;
  }
}
