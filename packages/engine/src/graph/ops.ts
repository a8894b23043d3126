import type { Ops } from '../optimizers.js';
import type { GraphBuilder, GraphTensor } from './translate.js';

/** The optimiser algebra in TensorFlow graph ops, each node named under `scope`. */
export function graphOps(g: GraphBuilder, scope: string): Ops<GraphTensor> {
  const n = (op: string) => `${scope}/${op}`;
  return {
    scalar: (value) => g.scalar(value),
    add: (a, b) => g.binary('AddV2', n('add'), a, b),
    sub: (a, b) => g.binary('Sub', n('sub'), a, b),
    mul: (a, b) => g.binary('Mul', n('mul'), a, b),
    div: (a, b) => g.binary('RealDiv', n('div'), a, b),
    pow: (a, b) => g.binary('Pow', n('pow'), a, b),
    maximum: (a, b) => g.binary('Maximum', n('maximum'), a, b),
    sqrt: (a) => g.unary('Sqrt', n('sqrt'), a),
    square: (a) => g.unary('Square', n('square'), a),
    norm: (a) => g.unary('Sqrt', n('norm'), g.reduce('Sum', n('sum_squares'), g.reshape(n('flat'), g.unary('Square', n('squared'), a), [-1]), [0], false)),
  };
}
