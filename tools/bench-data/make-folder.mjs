// Writes a large synthetic image folder for the data benchmarks: <dir>/class_<c>/<n>.jpg, JPEGs
// made with tfjs-node's encoder (TensorFlow's libjpeg), of 5 learnable classes (a tinted stripe
// pattern per class, with random phase, brightness and noise), 256-384 px wide, seeded.
// Usage: node tools/bench-data/make-folder.mjs <dir> [--images 30000] [--classes 5] [--workers 2]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { URL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

/** Encodes images [from, to) of the folder; each image depends only on its index. */
async function writeRange(tf, dir, classes, from, to, onImage) {
  for (let i = from; i < to; i++) {
    const c = i % classes;
    const h = 192 + ((i * 37) % 97);
    const w = 256 + ((i * 53) % 129);
    const image = tf.tidy(() => {
      const angle = (Math.PI * c) / classes;
      const freq = ((3 + (c % 3)) * 2 * Math.PI) / w;
      const ys = tf.range(0, h).reshape([h, 1]);
      const xs = tf.range(0, w).reshape([1, w]);
      const phase = (i * 2.399) % (2 * Math.PI);
      const wave = tf.sin(xs.mul(Math.cos(angle) * freq).add(ys.mul(Math.sin(angle) * freq)).add(phase)).mul(0.5).add(0.5);
      const tint = tf.tensor1d([0, 2.1, 4.2].map((o) => 0.5 + 0.5 * Math.cos(c * 2.1 + o)));
      const brightness = 0.7 + 0.3 * (((i * 7919) % 1000) / 1000);
      const base = wave.expandDims(2).mul(tint.reshape([1, 1, 3])).mul(0.6).add(0.25).mul(255 * brightness);
      return base.add(tf.randomUniform([h, w, 3], -25, 25, 'float32', i)).clipByValue(0, 255).toInt();
    });
    const bytes = await tf.node.encodeJpeg(image, 'rgb', 85);
    image.dispose();
    fs.writeFileSync(path.join(dir, `class_${c}`, `${String(i).padStart(6, '0')}.jpg`), bytes);
    onImage();
  }
}

if (!isMainThread) {
  const { tf } = await import('@headbench/engine');
  const { dir, classes, from, to } = workerData;
  let done = 0;
  await writeRange(tf, dir, classes, from, to, () => {
    if (++done % 50 === 0) parentPort.postMessage(50);
  });
  parentPort.postMessage(done % 50);
} else {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { images: { type: 'string', default: '30000' }, classes: { type: 'string', default: '5' }, workers: { type: 'string', default: String(Math.min(os.availableParallelism(), 4)) } } });
  // Set in the real environment before any worker loads TensorFlow (a worker's process.env is a copy).
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  const dir = positionals[0];
  if (!dir) throw new Error('usage: make-folder.mjs <dir> [--images 30000] [--classes 5] [--workers 2]');
  const images = Number(values.images);
  const classes = Number(values.classes);
  const workers = Number(values.workers);
  for (let c = 0; c < classes; c++) fs.mkdirSync(path.join(dir, `class_${c}`), { recursive: true });
  const started = performance.now();
  let done = 0;
  const tick = () => process.stderr.write(`\rwriting ${done}/${images} JPEGs`);
  await Promise.all(
    Array.from({ length: workers }, (_, w) => {
      const from = Math.floor((w * images) / workers);
      const to = Math.floor(((w + 1) * images) / workers);
      return new Promise((resolve, reject) => {
        const worker = new Worker(new URL(import.meta.url), { workerData: { dir, classes, from, to } });
        worker.on('message', (n) => {
          done += n;
          tick();
        });
        worker.on('error', reject);
        worker.on('exit', resolve);
      });
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  let bytes = 0;
  for (let c = 0; c < classes; c++) for (const f of fs.readdirSync(path.join(dir, `class_${c}`))) bytes += fs.statSync(path.join(dir, `class_${c}`, f)).size;
  process.stderr.write('\n');
  process.stdout.write(`${JSON.stringify({ dir, images, classes, bytes, seconds: Math.round(seconds * 10) / 10, workers })}\n`);
}
