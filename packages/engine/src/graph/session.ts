import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tf } from '../runtime.js';
import { writeSavedModel, type NodeDef, type Signature } from './saved-model.js';

export type GraphSession = Awaited<ReturnType<typeof tf.node.loadSavedModel>>;

/**
 * Loads a graph into a TensorFlow session through tfjs-node: written as a SavedModel without
 * variables into a temporary folder, which is removed once loaded (the session holds the graph).
 */
export async function loadGraph(nodes: readonly NodeDef[], signature: Signature): Promise<GraphSession> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-graph-'));
  try {
    writeSavedModel(dir, nodes, signature);
    return await tf.node.loadSavedModel(dir, ['serve'], 'serving_default');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
