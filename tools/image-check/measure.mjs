#!/usr/bin/env node
// Measures the image check of @headbench/data (packages/data/src/image-check.ts), which refuses broken
// image files before TensorFlow's decoder sees them (and prints to stderr):
//   1. no false refusals: every real image (flowers-mini, ../shared flower_photos, progressive
//      and grayscale JPEGs, PNGs) passes the check and decodes;
//   2. coverage: of many corrupted copies that TensorFlow cannot decode, how many the check
//      refuses first, and how many still make TensorFlow print (decoded in a child process
//      whose stderr is captured, one case at a time);
//   3. cost: decoding flowers-mini with and without the check, alternated, medians.
// Usage: node tools/image-check/measure.mjs [--rounds 7]   (after npm run build)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const engine = path.join(root, 'packages/engine/dist');
const data = path.join(root, 'packages/data/dist');
const { tf } = await import(path.join(engine, 'index.js'));
const { checkImageBytes } = await import(path.join(data, 'image-check.js'));

const args = process.argv.slice(2);
const rounds = Number(args[args.indexOf('--rounds') + 1]) || 7;

function walk(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : /\.(jpe?g|png)$/i.test(e.name) ? [path.join(dir, e.name)] : []));
}

const mini = walk(path.join(root, 'packages/cli/datasets/flowers-mini'));
const shared = walk(path.join(root, '..', 'shared', 'data', 'flower_photos'));
const decodes = (bytes) => {
  try {
    tf.node.decodeImage(bytes, 3, 'int32', false).dispose();
    return true;
  } catch {
    return false;
  }
};

// 1. Real images, and encodings flowers-mini does not have.
const generated = [];
{
  const img = tf.node.decodeImage(fs.readFileSync(mini[0]), 3);
  const gray = img.mean(2, true).toInt();
  generated.push(['progressive.jpg', await tf.node.encodeJpeg(img, 'rgb', 90, true)]);
  generated.push(['optimized-no-chroma-subsampling.jpg', await tf.node.encodeJpeg(img, 'rgb', 95, false, true, false)]);
  generated.push(['grayscale.jpg', await tf.node.encodeJpeg(gray, 'grayscale', 80)]);
  generated.push(['grayscale-progressive.jpg', await tf.node.encodeJpeg(gray, 'grayscale', 80, true)]);
  generated.push(['rgb.png', await tf.node.encodePng(img)]);
  generated.push(['gray.png', await tf.node.encodePng(gray)]);
  generated.push(['rgba.png', await tf.node.encodePng(tf.concat([img, tf.fill([...img.shape.slice(0, 2), 1], 200, 'int32')], 2))]);
  generated.push(['png-best-compression.png', await tf.node.encodePng(img, 9)]);
}
let refused = 0;
const realCount = mini.length + shared.length + generated.length;
for (const [name, bytes] of [...mini.map((f) => [f, fs.readFileSync(f)]), ...shared.map((f) => [f, fs.readFileSync(f)]), ...generated]) {
  const problem = checkImageBytes(bytes);
  if (problem || !decodes(bytes)) {
    refused += 1;
    console.log(`REAL IMAGE REFUSED: ${name}: ${problem ?? 'TensorFlow does not decode it'}`);
  }
}
console.log(`1. real images: ${realCount} (${mini.length} flowers-mini, ${shared.length} shared flower_photos, ${generated.length} generated); refused by the check or TensorFlow: ${refused}`);

// 2. Corrupted copies: truncations, zeroed tails, flipped bytes, garbage after the signature.
function seeded(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}
const random = seeded(11);
const sources = [...mini.filter((_, i) => i % 100 === 0), ...generated.map(([n]) => n)];
const sourceBytes = (s) => generated.find(([n]) => n === s)?.[1] ?? fs.readFileSync(s);
const cases = [];
for (const source of sources) {
  const b = Buffer.from(sourceBytes(source));
  const cuts = [3, 4, 8, 12, 20, 40, 100, 200, 400, ...Array.from({ length: 12 }, (_, k) => Math.floor((b.length * (k + 1)) / 13)), b.length - 2, b.length - 1];
  for (const cut of cuts) {
    cases.push([`${source} cut at ${cut}`, b.subarray(0, cut)]);
    const zeroed = Buffer.from(b);
    zeroed.fill(0, cut);
    cases.push([`${source} zeroed from ${cut}`, zeroed]);
  }
  for (let k = 0; k < 30; k++) {
    const flipped = Buffer.from(b);
    const at = 2 + Math.floor(random() * (b.length - 2));
    for (let j = 0; j < 1 + Math.floor(random() * 4); j++) flipped[Math.min(b.length - 1, at + j)] ^= 1 + Math.floor(random() * 255);
    cases.push([`${source} bytes flipped at ${at}`, flipped]);
  }
  cases.push([`${source} signature + garbage`, Buffer.concat([b.subarray(0, 4), Buffer.from(Array.from({ length: 200 }, () => Math.floor(random() * 256)))])]);
}
// TensorFlow's verdict and what it prints, per case, from a child process.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-check-'));
cases.forEach(([, bytes], i) => fs.writeFileSync(path.join(dir, `${i}.bin`), bytes));
const child = `
import fs from 'node:fs';
const { tf } = await import(${JSON.stringify(path.join(engine, 'index.js'))});
for (let i = 0; i < ${cases.length}; i++) {
  process.stderr.write('@@case ' + i + '\\n');
  let ok = true;
  try { tf.node.decodeImage(fs.readFileSync(${JSON.stringify(dir)} + '/' + i + '.bin'), 3, 'int32', false).dispose(); } catch { ok = false; }
  process.stderr.write('@@' + (ok ? 'ok' : 'fail') + '\\n');
}`;
const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], { encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
fs.rmSync(dir, { recursive: true, force: true });
const verdicts = [];
let current;
for (const line of r.stderr.split('\n')) {
  const m = /^@@case (\d+)$/.exec(line);
  if (m) current = { printed: [] };
  else if (line === '@@ok' || line === '@@fail') verdicts.push({ ...current, ok: line === '@@ok' });
  else if (current && line) current.printed.push(line);
}
if (verdicts.length !== cases.length) throw new Error(`the child decoded ${verdicts.length} of ${cases.length} cases: ${r.stderr.slice(-500)}`);
const tally = { failing: 0, refusedFirst: 0, failingPassed: 0, failingPassedPrinted: 0, falseRefusals: 0, decodedPrinted: 0, decoded: 0 };
const passedExamples = [];
cases.forEach(([name, bytes], i) => {
  const v = verdicts[i];
  const problem = checkImageBytes(bytes);
  if (v.ok) {
    tally.decoded += 1;
    if (v.printed.length) tally.decodedPrinted += 1;
    if (problem) {
      tally.falseRefusals += 1;
      console.log(`FALSE REFUSAL: ${name}: ${problem}`);
    }
  } else {
    tally.failing += 1;
    if (problem) tally.refusedFirst += 1;
    else {
      tally.failingPassed += 1;
      if (v.printed.length) {
        tally.failingPassedPrinted += 1;
        if (passedExamples.length < (Number(process.env.EXAMPLES) || 5)) passedExamples.push(`${path.basename(name)}: ${v.printed.join(' / ')}`);
      }
    }
  }
});
console.log(`2. corrupted copies: ${cases.length} of ${sources.length} images; TensorFlow decodes ${tally.decoded} (of which ${tally.decodedPrinted} with a libjpeg warning on stderr) and fails on ${tally.failing}`);
console.log(`   of the ${tally.failing} it fails on, the check refuses ${tally.refusedFirst} first (${((100 * tally.refusedFirst) / tally.failing).toFixed(1)}%); ${tally.failingPassed} reach TensorFlow, ${tally.failingPassedPrinted} of them with a line on stderr`);
for (const e of passedExamples) console.log(`     e.g. ${e}`);
console.log(`   check refusals of copies TensorFlow decodes: ${tally.falseRefusals}`);

// 3. Cost on good files: decode flowers-mini (as image-folder.ts does) with and without the check.
const files = mini.map((f) => fs.readFileSync(f));
const decodeAll = (check) => {
  const t = performance.now();
  for (const b of files) {
    if (check && checkImageBytes(b)) throw new Error('refused');
    tf.tidy(() => tf.image.resizeBilinear(tf.node.decodeImage(b, 3, 'int32', false), [96, 96], false, true)).dispose();
  }
  return performance.now() - t;
};
const checkOnly = () => {
  const t = performance.now();
  for (const b of files) checkImageBytes(b);
  return performance.now() - t;
};
decodeAll(true);
const withCheck = [];
const without = [];
const ratios = [];
const alone = [];
for (let k = 0; k < rounds; k++) {
  const [a, b] = k % 2 ? [decodeAll(true), decodeAll(false)] : (() => { const x = decodeAll(false); return [decodeAll(true), x]; })();
  withCheck.push(a);
  without.push(b);
  ratios.push(a / b);
  alone.push(checkOnly());
}
const med = (v) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];
const mb = files.reduce((s, b) => s + b.length, 0) / 1e6;
console.log(`3. ${files.length} flowers-mini files (${mb.toFixed(1)} MB), ${rounds} alternated rounds, load ${os.loadavg()[0].toFixed(2)}:`);
console.log(`   decode+resize without check ${med(without).toFixed(0)} ms, with check ${med(withCheck).toFixed(0)} ms; ratio median ${med(ratios).toFixed(3)} (range ${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)})`);
console.log(`   the check alone: ${med(alone).toFixed(1)} ms (${((1000 * med(alone)) / files.length).toFixed(1)} us per file, range ${Math.min(...alone).toFixed(1)}-${Math.max(...alone).toFixed(1)} ms)`);
