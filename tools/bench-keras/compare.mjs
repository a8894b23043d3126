#!/usr/bin/env node
// @ts-check
// Times Keras and headbench on the same configurations on this machine, alternating them round
// by round so that load from elsewhere hits both alike, and prints the ratio table that
// docs/performance.md records. Each measurement is a fresh process (so the cold first step is
// really cold); a round measures Keras, headbench with TensorFlow's fused kernels, and tfjs'
// own kernels (HEADBENCH_ACCELERATE=0).
//
//   npm run bench:keras                 # all configurations, 3 rounds
//   npm run bench:keras -- --rounds 1 --configs 0.35@96
//   npm run bench:keras -- --skip-tfjs  # without the (slow) tfjs-kernels column
//   npm run bench:keras -- --backbone resnet50 --configs 1.0@224  # another backbone (alpha: MobileNetV2 only)
//
// Needs the Keras venv (tools/keras-reference/setup-venv.sh; created here when missing).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : args[i + 1];
};
const rounds = Number(option('rounds', '3'));
const configs = option('configs', '1.0@224,0.35@224,0.35@96')
  .split(',')
  .map((c) => {
    const [alpha, size] = c.split('@');
    return { alpha: Number(alpha), size: Number(size) };
  });
const heads = option('heads', 'gap,flatten').split(',');
const backbone = option('backbone', 'mobilenetv2');
const skipTfjs = args.includes('--skip-tfjs');
const venv = process.env.HEADBENCH_KERAS_VENV ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'headbench', 'keras-venv');
const python = path.join(venv, 'bin', 'python');

if (!fs.existsSync(python)) {
  console.error(`creating the Keras venv in ${venv} (tools/keras-reference/setup-venv.sh)`);
  const setup = spawnSync('bash', [path.join(here, '..', 'keras-reference', 'setup-venv.sh')], { stdio: 'inherit' });
  if (setup.status !== 0) process.exit(1);
}

/** @param {string} cmd @param {string[]} argv @param {NodeJS.ProcessEnv} [env] */
function measure(cmd, argv, env = {}) {
  const r = spawnSync(cmd, argv, { cwd: here, env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', ...env }, encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`${cmd} ${argv.join(' ')} failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
  }
}

const median = (/** @type {number[]} */ v) => {
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** @type {Map<string, {keras: any[], fused: any[], plain: any[]}>} */
const results = new Map();
const cases = configs.flatMap((c) => heads.map((head) => ({ ...c, head, key: `${backbone === 'mobilenetv2' ? `alpha ${c.alpha.toFixed(c.alpha === 1 ? 1 : 2)}` : backbone} @${c.size} ${head}` })));
for (let round = 1; round <= rounds; round++) {
  for (const c of cases) {
    const entry = results.get(c.key) ?? { keras: [], fused: [], plain: [] };
    results.set(c.key, entry);
    const params = [String(c.alpha), String(c.size), c.head];
    const keras = () => entry.keras.push(measure(python, ['keras_step.py', '--backbone', backbone, '--alpha', params[0], '--size', params[1], '--head', c.head]));
    const headbench = () => entry.fused.push(measure(process.execPath, ['timing.mjs', ...params], { BENCH_BACKBONE: backbone }));
    // A/B in odd rounds, B/A in even ones, so that neither side always runs on a warmer machine.
    const order = round % 2 ? [['keras', keras], ['headbench', headbench]] : [['headbench', headbench], ['keras', keras]];
    process.stderr.write(`round ${round}/${rounds} ${c.key}:`);
    for (const [name, run] of order) {
      process.stderr.write(` ${name}`);
      run();
    }
    if (!skipTfjs) {
      process.stderr.write(', tfjs kernels');
      entry.plain.push(measure(process.execPath, ['timing.mjs', ...params], { HEADBENCH_ACCELERATE: '0', BENCH_BACKBONE: backbone }));
    }
    process.stderr.write('\n');
  }
}

const fmt = (/** @type {number} */ v) => v.toFixed(0);
const ratio = (/** @type {number} */ a, /** @type {number} */ b) => `${(a / b).toFixed(2)}x`;
const lines = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus()[0]?.model.trim()}, ${os.cpus().length} cores; batch 32, SGD, whole model trained; medians of ${rounds} alternating rounds (each round: medians of 8 steps after warm-up); "per round" is the lowest and highest of the rounds' own ratios.`,
  '',
  `| configuration | metric | Keras 3 ms | headbench ms | ratio | per round |${skipTfjs ? '' : ' tfjs kernels ms | ratio |'}`,
  `|---|---|---:|---:|---:|---:|${skipTfjs ? '' : '---:|---:|'}`,
];
for (const [key, r] of results) {
  for (const [metric, field] of [['train step', 'trainMs'], ['inference batch 32', 'inferMs'], ['inference batch 1', 'infer1Ms'], ['first step (cold)', 'coldMs']]) {
    const k = median(r.keras.map((m) => m[field]));
    const f = median(r.fused.map((m) => m[field]));
    const perRound = r.fused.map((m, i) => m[field] / r.keras[i][field]).sort((a, b) => a - b);
    const range = perRound.length > 1 ? `${perRound[0].toFixed(2)}-${perRound.at(-1).toFixed(2)}` : '';
    const plain = skipTfjs ? '' : ` ${fmt(median(r.plain.map((m) => m[field])))} | ${ratio(median(r.plain.map((m) => m[field])), k)} |`;
    lines.push(`| ${key} | ${metric} | ${fmt(k)} | ${fmt(f)} | ${ratio(f, k)} | ${range} |${plain}`);
  }
}
const engines = (/** @type {string} */ field) => [...new Set([...results.values()].flatMap((r) => r.fused.map((m) => m[field])))].join(', ');
lines.push('', `headbench's training step ran as: ${engines('train')}; its inference as: ${engines('inference')} (graph: one TensorFlow session run per step or batch, packages/engine/src/graph).`);
process.stdout.write(`${lines.join('\n')}\n`);
