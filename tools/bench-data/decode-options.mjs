// Decode + resize throughput of the ways headbench could decode a folder on this machine, each
// into a cache rows file as the image cache writes it: TensorFlow (tfjs-node) in the main thread,
// in N worker threads (core's decode pool, what headbench uses), in N child processes; and, for
// reference only, libvips (sharp) and a JavaScript decoder (jpeg-js), which decode JPEG
// differently from TensorFlow (their pixels are compared, not cached), if they can be imported
// from --modules <node_modules folder> (they are not headbench dependencies).
// Usage: node tools/bench-data/decode-options.mjs <image folder> [--images 2000] [--size 160]
//          [--options main,threads-1,threads-2,processes-2,sharp,jpeg-js] [--modules <dir>]
import { fork } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, URL } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
const core = fileURLToPath(new URL('../../packages/core/dist/', import.meta.url));
const { decodeInto } = await import(path.join(core, 'data/decode-pool.js'));
const { decodeFileInto, decodeResize } = await import(path.join(core, 'data/decode.js'));

if (process.argv[2] === '--child') {
  // One child process of the processes-N option: decodes the files it is sent into the rows file.
  process.on('message', ({ pixelsFile, size, jobs }) => {
    const fd = fs.openSync(pixelsFile, 'r+');
    for (const job of jobs) decodeFileInto(job.file, fd, job.row, size, 'bilinear');
    fs.closeSync(fd);
    process.send({ done: jobs.length }, () => process.exit(0));
  });
  process.send({ ready: true });
} else {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      images: { type: 'string', default: '2000' },
      size: { type: 'string', default: '160' },
      options: { type: 'string', default: 'main,threads-1,threads-2,threads-3,processes-2,sharp,jpeg-js' },
      modules: { type: 'string' },
    },
  });
  const folder = positionals[0];
  if (!folder) throw new Error('usage: decode-options.mjs <image folder> [--images N] [--size S] [--options ...] [--modules dir]');
  const size = Number(values.size);
  const files = fs
    .readdirSync(folder)
    .sort()
    .flatMap((c) => fs.readdirSync(path.join(folder, c)).sort().map((f) => path.join(folder, c, f)))
    .slice(0, Number(values.images));
  const jobs = files.map((file, row) => ({ row, file }));
  const rowBytes = size * size * 3;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-decode-options-'));
  const pixelsFile = path.join(tmp, 'pixels.u8');
  const fresh = () => {
    fs.writeFileSync(pixelsFile, '');
    fs.truncateSync(pixelsFile, files.length * rowBytes);
  };
  const require = values.modules ? createRequire(path.join(path.resolve(values.modules), 'x.js')) : undefined;
  const optional = (name) => {
    try {
      return require?.(name);
    } catch {
      return undefined;
    }
  };
  const reference = decodeResize(fs.readFileSync(files[0]), size, 'bilinear');

  async function processes(n) {
    const children = Array.from({ length: n }, () => fork(fileURLToPath(import.meta.url), ['--child'], { env: process.env }));
    await Promise.all(children.map((c) => new Promise((resolve) => c.once('message', resolve))));
    const ready = performance.now();
    await Promise.all(
      children.map(
        (c, k) =>
          new Promise((resolve) => {
            c.once('message', resolve);
            c.send({ pixelsFile, size, jobs: jobs.filter((_, i) => i % n === k) });
          }),
      ),
    );
    return ready;
  }

  const rows = [];
  for (const option of values.options.split(',')) {
    fresh();
    const started = performance.now();
    let ready = started;
    let note = 'bit-identical to headbench (TensorFlow decode and resize)';
    if (option === 'main') await decodeInto({ pixelsFile, inputSize: size, interpolation: 'bilinear', jobs, workers: 0 });
    else if (option.startsWith('threads-')) {
      let first = 0;
      await decodeInto({ pixelsFile, inputSize: size, interpolation: 'bilinear', jobs, workers: Number(option.slice(8)), onProgress: () => (first ||= performance.now()) });
      ready = first;
    } else if (option.startsWith('processes-')) ready = await processes(Number(option.slice(10)));
    else if (option === 'sharp') {
      const sharp = optional('sharp');
      if (!sharp) {
        rows.push({ option, note: 'not installed (pass --modules <dir> with sharp in it)' });
        continue;
      }
      // libvips decodes on its own thread pool; as many files in flight as it has threads.
      const out = fs.openSync(pixelsFile, 'r+');
      let next = 0;
      let maxDiff = 0;
      await Promise.all(
        Array.from({ length: sharp.concurrency() }, async () => {
          while (next < files.length) {
            const i = next++;
            const px = await sharp(files[i]).removeAlpha().resize(size, size, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
            fs.writeSync(out, px, 0, rowBytes, i * rowBytes);
            if (i === 0) for (let k = 0; k < rowBytes; k++) maxDiff = Math.max(maxDiff, Math.abs(px[k] - reference[k]));
          }
        }),
      );
      fs.closeSync(out);
      note = `libvips ${sharp.versions.vips} (mozjpeg), its own resize; not headbench's pixels: up to ${maxDiff} levels from TensorFlow's on the first image`;
    } else if (option === 'jpeg-js') {
      const jpeg = optional('jpeg-js');
      if (!jpeg) {
        rows.push({ option, note: 'not installed (pass --modules <dir> with jpeg-js in it)' });
        continue;
      }
      let maxDiff = 0;
      for (const [i, file] of files.entries()) {
        const { data, width, height } = jpeg.decode(fs.readFileSync(file), { useTArray: true, formatAsRGBA: false });
        if (i === 0) {
          const tf = (await import('@headbench/engine')).tf;
          const tfPixels = tf.tidy(() => tf.node.decodeImage(fs.readFileSync(file), 3)).dataSync();
          for (let k = 0; k < width * height * 3; k++) maxDiff = Math.max(maxDiff, Math.abs(data[k] - tfPixels[k]));
        }
      }
      note = `decode only (no resize), one thread; not headbench's pixels: up to ${maxDiff} levels from TensorFlow's decode on the first image`;
    } else throw new Error(`unknown option ${option}`);
    const seconds = (performance.now() - started) / 1000;
    rows.push({ option, images: files.length, seconds: Math.round(seconds * 100) / 100, imagesPerSecond: Math.round(files.length / seconds), startupSeconds: Math.round(((ready - started) / 1000) * 100) / 100, note });
    process.stderr.write(`${JSON.stringify(rows.at(-1))}\n`);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  const load = os.loadavg().map((l) => l.toFixed(2)).join(', ');
  process.stdout.write(`\n${files.length} images of ${folder} at ${size}x${size}, ${os.cpus().length} cores, load average ${load}\n\n`);
  process.stdout.write('| option | images/s | seconds | of which start-up | note |\n|---|---:|---:|---:|---|\n');
  for (const r of rows) process.stdout.write(`| ${r.option} | ${r.imagesPerSecond ?? '-'} | ${r.seconds ?? '-'} | ${r.startupSeconds ?? '-'} | ${r.note} |\n`);
}
