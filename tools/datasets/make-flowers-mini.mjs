#!/usr/bin/env node
// @ts-check
// Writes the small flower dataset that `headbench run` trains on by default, so a fresh clone
// runs offline: every image of a flower_photos subset, squashed to 128x128 as Keras'
// image_dataset_from_directory would (no crop), re-encoded as JPEG, with its CC-BY credit line.
//
//   node tools/datasets/make-flowers-mini.mjs <flower_photos folder> [out folder]
//
// The source folder has train/ and val/ with one sub-folder per class, and an ATTRIBUTION.txt
// whose lines start with `<class>/<file>` (as ../shared/data/flower_photos does).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
const require = createRequire(import.meta.url);
const tf = require('@tensorflow/tfjs-node');

const SIZE = 128;
const QUALITY = 90;
const here = path.dirname(fileURLToPath(import.meta.url));
const [source, out = path.resolve(here, '../../packages/cli/datasets/flowers-mini')] = process.argv.slice(2);
if (!source) {
  console.error('usage: make-flowers-mini.mjs <flower_photos folder> [out folder]');
  process.exit(2);
}

const credits = new Map(
  fs
    .readFileSync(path.join(source, 'ATTRIBUTION.txt'), 'utf8')
    .split('\n')
    .filter((l) => /^\w+\/\S+\.jpg /.test(l))
    .map((l) => [l.split(' ')[0], l]),
);

fs.rmSync(out, { recursive: true, force: true });
const used = [];
let bytes = 0;
for (const split of ['train', 'val']) {
  for (const cls of fs.readdirSync(path.join(source, split)).sort()) {
    const dir = path.join(source, split, cls);
    if (!fs.statSync(dir).isDirectory()) continue;
    fs.mkdirSync(path.join(out, split, cls), { recursive: true });
    for (const file of fs.readdirSync(dir).sort()) {
      const jpeg = tf.tidy(() => {
        const image = tf.node.decodeImage(fs.readFileSync(path.join(dir, file)), 3);
        return tf.image.resizeBilinear(image, [SIZE, SIZE], false, true).round().clipByValue(0, 255).toInt();
      });
      const encoded = await tf.node.encodeJpeg(jpeg, 'rgb', QUALITY);
      jpeg.dispose();
      fs.writeFileSync(path.join(out, split, cls, file), encoded);
      bytes += encoded.length;
      const credit = credits.get(`${cls}/${file}`);
      if (!credit) throw new Error(`no credit line for ${cls}/${file} in ATTRIBUTION.txt`);
      used.push(`${split}/${credit}`);
    }
  }
}

fs.writeFileSync(
  path.join(out, 'ATTRIBUTION.txt'),
  [
    `flowers-mini: ${used.length} images of TensorFlow's flower_photos (tf_flowers), resized to ${SIZE}x${SIZE}`,
    'by tools/datasets/make-flowers-mini.mjs. Each line: <split>/<class>/<file> followed by the credit line of',
    "the original image, verbatim from flower_photos' LICENSE.txt.",
    '',
    'All images are licensed under the Creative Commons By-Attribution License 2.0:',
    'https://creativecommons.org/licenses/by/2.0/',
    'The photographers are listed below; credit them for any use as the license requires.',
    '',
    ...used,
    '',
  ].join('\n'),
);
console.log(`wrote ${used.length} images (${(bytes / 1e6).toFixed(1)} MB) to ${out}`);
