#!/usr/bin/env node
// @ts-check
// Which TensorFlow kernels run for one inference batch of MobileNetV2 + GAP + Dense(5): in
// Keras' predict_on_batch, in headbench's inference graph without its passes, and with them; and
// which fusions TensorFlow's graph optimiser (grappler's remapper) made in each. The graphs are
// written as the SavedModel tfjs-node loads, with the values they are fed, and run in the Keras
// venv's TensorFlow (the same 2.21 libtensorflow) by kernels.py. docs/performance.md records
// the results.
//
//   npm run bench:kernels                                   # alpha 0.35 @96, batch 32
//   npm run bench:kernels -- --alpha 1.0 --size 224 --batch 1
//   TF_ENABLE_ONEDNN_OPTS=1 npm run bench:kernels           # with oneDNN's kernels
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { composeModel, tf } from '@headbench/core';
import { buildInferenceGraph, writeSavedModel } from '@headbench/engine';
import { mobilenetv2 } from '@headbench/backbones';
import { gap } from '@headbench/heads-gap';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (/** @type {string} */ name, /** @type {string} */ fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : (args[i + 1] ?? fallback);
};
const alpha = Number(option('alpha', '0.35'));
const size = Number(option('size', '96'));
const batch = Number(option('batch', '32'));
const venv = process.env.HEADBENCH_KERAS_VENV ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'headbench', 'keras-venv');
const python = path.join(venv, 'bin', 'python');
if (!fs.existsSync(python)) {
  console.error(`bench:kernels: no Keras venv at ${venv}; make it with tools/keras-reference/setup-venv.sh`);
  process.exit(1);
}

/** Runs kernels.py; returns its JSON and the remapper's fusions from its log. */
function kernels(/** @type {string[]} */ argv) {
  const r = spawnSync(python, [path.join(here, 'kernels.py'), ...argv], { encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '0', TF_CPP_VMODULE: 'remapper=2' } });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  let result;
  try {
    result = JSON.parse(line);
  } catch {
    throw new Error(`kernels.py ${argv.join(' ')} failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
  }
  /** @type {Record<string, number>} */
  const fusions = {};
  for (const m of r.stderr.matchAll(/remapper\.cc:\d+\] (Fuse [^:]+):/g)) fusions[m[1] ?? ''] = (fusions[m[1] ?? ''] ?? 0) + 1;
  return { ...result, fusions };
}

/** Writes headbench's inference graph with `passes`, and the values it is fed, into a folder. */
async function writeGraph(/** @type {Record<string, unknown>} */ passes) {
  const { model } = await composeModel(mobilenetv2({ alpha, weights: 'imagenet' }), gap(), { inputSize: size, classes: 5, seed: 1 });
  const graph = buildInferenceGraph(model, passes);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-kernels-'));
  writeSavedModel(dir, graph.nodes, graph.signature);
  /** @type {{name: string, shape: number[]}[]} */
  const meta = [];
  /** @type {Buffer[]} */
  const chunks = [];
  const push = (/** @type {string} */ name, /** @type {tf.Tensor} */ t) => {
    const data = /** @type {Float32Array} */ (t.dataSync());
    meta.push({ name, shape: t.shape });
    chunks.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  };
  graph.feeds.forEach((v, i) => push(`w${i}`, v.read()));
  for (const feed of graph.derived) tf.tidy(() => feed.compute(feed.sources.map((s) => s.read())).forEach((t, i) => push(feed.names[i] ?? '', t)));
  fs.writeFileSync(path.join(dir, 'feeds.json'), JSON.stringify(meta));
  fs.writeFileSync(path.join(dir, 'feeds.bin'), Buffer.concat(chunks));
  model.dispose();
  return { dir, passes: graph.passes, nodes: graph.nodes.length, fed: meta.length };
}

const columns = [
  { title: "Keras' predict_on_batch", run: () => ({ ...kernels(['keras', '--alpha', String(alpha), '--size', String(size), '--batch', String(batch)]), note: '' }) },
  ...[
    ['headbench, no passes', { foldBatchNorm: false, mergePadding: false }],
    ['headbench, FusedBatchNormV3 left to grappler', { foldBatchNorm: false, mergePadding: false, keepFusedBatchNorm: true }],
    ['headbench, with the passes', {}],
  ].map(([title, passes]) => ({
    title: /** @type {string} */ (title),
    run: async () => {
      const graph = await writeGraph(/** @type {Record<string, unknown>} */ (passes));
      try {
        return { ...kernels(['graph', graph.dir, '--batch', String(batch)]), note: `${graph.nodes} nodes, ${graph.fed} fed tensors` };
      } finally {
        fs.rmSync(graph.dir, { recursive: true, force: true });
      }
    },
  })),
];
const results = [];
for (const column of columns) {
  process.stderr.write(`${column.title}...\n`);
  results.push(await column.run());
}
const ops = [...new Set(results.flatMap((r) => r.kernels.map((/** @type {[string]} */ k) => k[0])))];
const lines = [
  `MobileNetV2 alpha ${alpha} @${size} + GAP + Dense(5), batch ${batch}, ${os.cpus()[0]?.model.trim()}, load average ${os.loadavg()[0]?.toFixed(1)}; oneDNN custom ops ${results[0].onednn ? 'on' : 'off'}. Each cell: kernels run in one traced batch, and their summed ms (threads overlap).`,
  '',
  `| kernel | ${columns.map((c) => c.title).join(' | ')} |`,
  `|---|${columns.map(() => '---:').join('|')}|`,
  ...ops.map((op) => `| ${op} | ${results.map((r) => {
    const k = r.kernels.find((/** @type {[string]} */ e) => e[0] === op);
    return k ? `${k[1]} / ${k[2].toFixed(1)}` : '';
  }).join(' | ')} |`),
  `| median ms of 8 untraced batches | ${results.map((r) => r.medianMs.toFixed(1)).join(' | ')} |`,
  `| grappler remapper fusions | ${results.map((r) => Object.entries(r.fusions).map(([f, n]) => `${f} x${n}`).join('; ') || 'none').join(' | ')} |`,
  `| graph | ${results.map((r) => r.note).join(' | ')} |`,
];
process.stdout.write(`${lines.join('\n')}\n`);
