#!/usr/bin/env node
// @ts-check
// Times Keras and headbench (and PyTorch, where it is installed) on the same configurations on
// this machine, alternating the order round by round so that load from elsewhere hits every side
// alike, and prints the ratio table that docs/performance.md records. Each measurement is a fresh
// process (so the cold first step is really cold). A round measures Keras, headbench, PyTorch
// and tfjs' own kernels (HEADBENCH_ACCELERATE=0) on each configuration.
//
// Inference is timed twice in each process: with the weights as loaded (ImageNet by default,
// the same values on both sides: the TF.js weights @headbench/backbones bundles, assigned to Keras
// by name) and after the timed training steps (what evaluation after an epoch runs on).
//
//   npm run bench:keras                          # all configurations, 3 rounds
//   npm run bench:keras -- --rounds 1 --configs 0.35@96 --heads gap
//   npm run bench:keras -- --skip-tfjs           # without the (slow) tfjs-kernels column
//   npm run bench:keras -- --skip-torch          # without PyTorch even where it is installed
//   npm run bench:keras -- --weights none        # random initialisation instead of ImageNet
//   npm run bench:keras -- --json out.json       # every sample, for later analysis
//   npm run bench:keras -- --onednn both         # Keras and headbench with oneDNN forced on, then off
//                                                # (TF_ENABLE_ONEDNN_OPTS=1/0), alternated; default: as
//                                                # each side chooses (TensorFlow's default for Keras,
//                                                # headbench's kernel probe for headbench)
//   npm run bench:keras -- --backbone resnet50 --configs 1.0@224  # another backbone (alpha: MobileNetV2 only;
//                                                                 # random weights, no PyTorch column)
//
// Needs the Keras venv (tools/keras-reference/setup-venv.sh; created here when missing). The
// PyTorch column needs a Python where `import torch, torchvision` works (Debian:
// apt-get install python3-torchvision); --torch-python or HEADBENCH_TORCH_PYTHON names it,
// else python3 and /usr/bin/python3 are tried.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (/** @type {string} */ name, /** @type {string | undefined} */ fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : args[i + 1];
};
const rounds = Number(option('rounds', '3'));
const configs = (option('configs', '1.0@224,0.35@224,0.35@96') ?? '')
  .split(',')
  .map((c) => {
    const [alpha, size] = c.split('@');
    return { alpha: Number(alpha), size: Number(size) };
  });
const heads = (option('heads', 'gap,flatten') ?? '').split(',');
const backbone = option('backbone', 'mobilenetv2') ?? 'mobilenetv2';
// ImageNet weights are bundled for MobileNetV2 only.
const weights = option('weights', backbone === 'mobilenetv2' ? 'imagenet' : 'none') ?? 'imagenet';
if (weights !== 'imagenet' && weights !== 'none') {
  console.error(`bench:keras: --weights is imagenet or none, not ${weights}`);
  process.exit(2);
}
const skipTfjs = args.includes('--skip-tfjs');
const onednnOption = option('onednn', 'default') ?? 'default';
if (!['default', 'both'].includes(onednnOption)) {
  console.error(`bench:keras: --onednn is default or both, not ${onednnOption}`);
  process.exit(2);
}
/** @type {{ label: string, env: NodeJS.ProcessEnv }[]} */
const kernelModes = onednnOption === 'both' ? [{ label: ' oneDNN on', env: { TF_ENABLE_ONEDNN_OPTS: '1' } }, { label: ' oneDNN off', env: { TF_ENABLE_ONEDNN_OPTS: '0' } }] : [{ label: '', env: {} }];
const jsonOut = option('json', undefined);
const venv = process.env.HEADBENCH_KERAS_VENV ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'headbench', 'keras-venv');
const python = path.join(venv, 'bin', 'python');

if (!fs.existsSync(python)) {
  console.error(`creating the Keras venv in ${venv} (tools/keras-reference/setup-venv.sh)`);
  const setup = spawnSync('bash', [path.join(here, '..', 'keras-reference', 'setup-venv.sh')], { stdio: 'inherit' });
  if (setup.status !== 0) process.exit(1);
}

/** The Python whose torch and torchvision import, or why there is none. */
function findTorch() {
  if (args.includes('--skip-torch')) return { reason: '--skip-torch' };
  if (backbone !== 'mobilenetv2') return { reason: `torch_step.py builds MobileNetV2 only, not ${backbone}` };
  const named = option('torch-python', process.env.HEADBENCH_TORCH_PYTHON);
  const candidates = named ? [named] : ['python3', '/usr/bin/python3'];
  for (const candidate of candidates) {
    const r = spawnSync(candidate, ['-c', 'import torch, torchvision; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return { python: candidate, version: r.stdout.trim() };
  }
  return { reason: `none of ${candidates.join(', ')} imports torch and torchvision (Debian: apt-get install python3-torchvision)` };
}
const torch = findTorch();
process.stderr.write(torch.python ? `PyTorch column: ${torch.python} (torch ${torch.version})\n` : `no PyTorch column: ${torch.reason}\n`);

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

/** @typedef {{ samples: Record<string, number[]>, [key: string]: unknown }} Measurement */
/** @type {Map<string, {config: {alpha: number, size: number, head: string}, keras: Measurement[], headbench: Measurement[], torch: Measurement[], tfjs: Measurement[]}>} */
const results = new Map();
const cases = configs.flatMap((c) =>
  heads.flatMap((head) => kernelModes.map((mode, i) => ({ ...c, head, mode, torch: i === 0, key: `${backbone === 'mobilenetv2' ? `alpha ${c.alpha.toFixed(c.alpha === 1 ? 1 : 2)}` : backbone} @${c.size} ${head}${mode.label}` }))),
);
for (let round = 1; round <= rounds; round++) {
  // With --onednn both, the kernel families alternate too: on first in odd rounds.
  for (const c of round % 2 ? cases : [...cases].reverse()) {
    const entry = results.get(c.key) ?? { config: { alpha: c.alpha, size: c.size, head: c.head }, keras: [], headbench: [], torch: [], tfjs: [] };
    results.set(c.key, entry);
    const common = ['--alpha', String(c.alpha), '--size', String(c.size), '--head', c.head];
    const chosen = { BENCH_BACKBONE: backbone, ...c.mode.env };
    const node = [String(c.alpha), String(c.size), c.head, '--weights', weights];
    /** @type {[string, () => void][]} */
    const sides = [
      ['keras', () => entry.keras.push(measure(python, ['keras_step.py', '--backbone', backbone, ...common, '--weights', weights], c.mode.env))],
      ['headbench', () => entry.headbench.push(measure(process.execPath, ['timing.mjs', ...node], chosen))],
    ];
    if (torch.python && c.torch) sides.push(['pytorch', () => entry.torch.push(measure(/** @type {string} */ (torch.python), ['torch_step.py', ...common]))]);
    // Forward in odd rounds, backward in even ones, so that no side always runs on a warmer machine.
    const order = round % 2 ? sides : [...sides].reverse();
    process.stderr.write(`round ${round}/${rounds} ${c.key}:`);
    for (const [name, run] of order) {
      process.stderr.write(` ${name}`);
      run();
    }
    if (!skipTfjs) {
      process.stderr.write(', tfjs kernels');
      entry.tfjs.push(measure(process.execPath, ['timing.mjs', ...node], { ...chosen, HEADBENCH_ACCELERATE: '0' }));
    }
    process.stderr.write('\n');
  }
}

const steps = /** @type {number | undefined} */ ([...results.values()][0]?.headbench[0]?.['trainSteps']) ?? 12;
const loaded = weights === 'imagenet' ? 'ImageNet weights' : 'random weights';
/** @type {[string, string][]} */
const metrics = [
  ['train step', 'train'],
  [`inference batch 32, ${loaded}`, 'infer'],
  [`inference batch 1, ${loaded}`, 'infer1'],
  [`inference batch 32, after ${steps} steps`, 'inferTrained'],
  [`inference batch 1, after ${steps} steps`, 'infer1Trained'],
  ['first step (cold)', 'cold'],
];
const fmt = (/** @type {number} */ v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
const ratio = (/** @type {number} */ a, /** @type {number} */ b) => `${(a / b).toFixed(2)}x`;
/** The median of the rounds' medians, and the lowest and highest sample of all rounds. */
const summary = (/** @type {Measurement[]} */ ms, /** @type {string} */ field) => {
  const present = ms.filter((m) => m.samples[field]?.length);
  if (present.length === 0) return undefined;
  const all = present.flatMap((m) => m.samples[field] ?? []);
  return { median: median(present.map((m) => median(m.samples[field] ?? []))), min: Math.min(...all), max: Math.max(...all), rounds: present.map((m) => median(m.samples[field] ?? [])) };
};
const cell = (/** @type {ReturnType<typeof summary>} */ s) => (s ? `${fmt(s.median)} (${fmt(s.min)}-${fmt(s.max)})` : '');

const withTorch = results.size > 0 && [...results.values()].some((r) => r.torch.length > 0);
const lines = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus()[0]?.model.trim()}, ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} at the end; batch 32, SGD lr 0.01, whole model trained; ${loaded} as loaded, then after the ${steps} training steps of the process; medians of ${rounds} alternating rounds (each round: the median of 8 samples, 16 at batch 1), in brackets the lowest and highest sample of all rounds; "per round" is the lowest and highest of the rounds' own headbench/Keras ratios.`,
  '',
  `| configuration | metric | Keras 3 ms | headbench ms | ratio | per round |${withTorch ? ' PyTorch ms | ratio |' : ''}${skipTfjs ? '' : ' tfjs kernels ms | ratio |'}`,
  `|---|---|---:|---:|---:|---:|${withTorch ? '---:|---:|' : ''}${skipTfjs ? '' : '---:|---:|'}`,
];
for (const [key, r] of results) {
  for (const [metric, field] of metrics) {
    const k = summary(r.keras, field);
    const h = summary(r.headbench, field);
    if (!k || !h) continue;
    const perRound = h.rounds.map((v, i) => v / (k.rounds[i] ?? NaN)).sort((a, b) => a - b);
    const range = perRound.length > 1 ? `${perRound[0]?.toFixed(2)}-${perRound.at(-1)?.toFixed(2)}` : '';
    const t = summary(r.torch, field);
    const p = summary(r.tfjs, field);
    const torchCells = withTorch ? ` ${cell(t)} | ${t ? ratio(t.median, k.median) : ''} |` : '';
    const tfjsCells = skipTfjs ? '' : ` ${cell(p)} | ${p ? ratio(p.median, k.median) : ''} |`;
    lines.push(`| ${key} | ${metric} | ${cell(k)} | ${cell(h)} | ${ratio(h.median, k.median)} | ${range} |${torchCells}${tfjsCells}`);
  }
}
lines.push('', 'Ratios are against Keras (below 1: faster than Keras).');

// The spread of each round, for the number the comparison is about.
const spreadField = 'inferTrained';
lines.push('', `Per round, inference batch 32 after ${steps} steps, min/median/max ms:`, '', '| configuration | side | ' + Array.from({ length: rounds }, (_, i) => `round ${i + 1}`).join(' | ') + ' |', '|---|---|' + '---:|'.repeat(rounds));
for (const [key, r] of results) {
  for (const [side, ms] of /** @type {[string, Measurement[]][]} */ ([['Keras', r.keras], ['headbench', r.headbench], ['PyTorch', r.torch]])) {
    if (ms.length === 0) continue;
    const cells = ms.map((m) => {
      const s = m.samples[spreadField] ?? [];
      return `${fmt(Math.min(...s))}/${fmt(median(s))}/${fmt(Math.max(...s))}`;
    });
    lines.push(`| ${key} | ${side} | ${cells.join(' | ')} |`);
  }
}

const engines = (/** @type {string} */ field) => [...new Set([...results.values()].flatMap((r) => r.headbench.map((m) => String(m[field]))))].join(', ');
const passes = [...new Set([...results.values()].flatMap((r) => r.headbench.map((m) => JSON.stringify(m['passes']))))].join('; ');
lines.push('', `headbench's training step ran as: ${engines('train')}; its inference as: ${engines('inference')} (graph: one TensorFlow session run per step or batch, packages/engine/src/graph); inference graph passes: ${passes}.`);
const kernels = [...new Set([...results.values()].flatMap((r) => r.headbench.map((m) => {
  const o = /** @type {{ enabled: boolean, reason: string, conv1x1AsMatMul?: { pairs: unknown[] } } | undefined} */ (m['onednn']);
  return o ? `oneDNN ${o.enabled ? 'on' : 'off'} (${o.reason}${o.conv1x1AsMatMul ? `; 1x1 as matrix products for ${JSON.stringify(o.conv1x1AsMatMul.pairs)}` : ''})` : 'unknown';
})))];
lines.push(`headbench's kernels: ${kernels.join('; ')}.`);
if (withTorch) {
  const t = [...results.values()].flatMap((r) => r.torch)[0];
  lines.push(`PyTorch ${t?.['torch']} (${torch.python}), ${t?.['threads']} threads, channels_last, denormals ${t?.['flushDenormal'] ? 'flushed to zero' : 'kept'}; torchvision's mobilenet_v2 from random initialisation, trained by the ${steps} steps before its inference is timed.`);
}
if (jsonOut) fs.writeFileSync(jsonOut, `${JSON.stringify({ weights, rounds, results: Object.fromEntries(results) }, null, 2)}\n`);
process.stdout.write(`${lines.join('\n')}\n`);
