// The data benchmark (not a test): a large synthetic image folder (make-folder.mjs), one epoch
// of `headbench run` at --size on all of it with a cold and then a warm image cache (peak RSS,
// decode images/s, step p50), reads from the cache with the page cache dropped and warm, and the
// training step on a 600-image subset in memory against the same subset streamed, alternating,
// at alpha 0.35 @96 and alpha 1.0 @224.
// Usage: node tools/bench-data/bench.mjs [--folder <dir>] [--images 30000] [--size 160]
//          [--alpha 0.35] [--rounds 3] [--runs cold,warm] [--cache <dir>] [--skip-scale]
//          [--skip-steps] [--json <file>]
// --runs warm --cache <the cache folder of an earlier cold run> skips the cold run (half an hour
// on a loaded 2-core machine); the cache folder is kept when given.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const cli = path.join(repo, 'packages/cli/bin/headbench.js');
const { values } = parseArgs({
  options: {
    folder: { type: 'string' },
    images: { type: 'string', default: '30000' },
    size: { type: 'string', default: '160' },
    alpha: { type: 'string', default: '0.35' },
    rounds: { type: 'string', default: '3' },
    runs: { type: 'string', default: 'cold,warm' },
    cache: { type: 'string' },
    'skip-scale': { type: 'boolean', default: false },
    'skip-steps': { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
const images = Number(values.images);
const size = Number(values.size);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-bench-data-'));
const cacheDir = values.cache ? path.resolve(values.cache) : path.join(work, 'cache');
const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' / ');
const log = (line) => process.stderr.write(`${line}\n`);
const report = { machine: `${os.cpus()[0]?.model}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`, started: new Date().toISOString(), loadAtStart: load() };
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

// 1. The folder.
const folder = values.folder ? path.resolve(values.folder) : path.join(os.tmpdir(), `headbench-bench-folder-${images}`);
const count = () => (fs.existsSync(folder) ? fs.readdirSync(folder).reduce((n, c) => n + fs.readdirSync(path.join(folder, c)).length, 0) : 0);
if (count() < images) {
  log(`writing ${images} JPEGs into ${folder} (load ${load()})`);
  const out = execFileSync(process.execPath, [path.join(here, 'make-folder.mjs'), folder, '--images', String(images)], { stdio: ['ignore', 'pipe', 'inherit'] });
  report.folder = JSON.parse(out.toString());
} else {
  report.folder = { dir: folder, images: count(), reused: true };
}
report.folder.bytes ??= Number(execFileSync('du', ['-sb', folder]).toString().split('\t')[0]);
log(`folder: ${JSON.stringify(report.folder)}`);

/** Runs the CLI, timestamping each JSON progress line; returns them, the results and the peak RSS. */
function runCli(args, name) {
  const rssFile = path.join(work, `${name}.rss.json`);
  const out = path.join(work, name);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', path.join(here, 'report-rss.mjs'), cli, 'run', ...args, '--out', out], {
      env: { ...process.env, HEADBENCH_CACHE_DIR: cacheDir, HEADBENCH_RSS_FILE: rssFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const events = [];
    let buffered = '';
    child.stderr.setEncoding('utf8').on('data', (d) => {
      buffered += d;
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) {
        const at = (performance.now() - started) / 1000;
        if (line.startsWith('{')) events.push({ at, ...JSON.parse(line) });
        else if (line.trim()) log(`  ${line}`);
      }
    });
    child.stdout.resume();
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`headbench run exited ${code}`));
      const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
      resolve({ events, results, rss: JSON.parse(fs.readFileSync(rssFile, 'utf8')), seconds: (performance.now() - started) / 1000 });
    });
  });
}

// 2. One epoch on all of it, cold cache then warm.
if (!values['skip-scale']) {
  const args = ['--train', folder, '--val-split', '0.2', '--input-size', String(size), '--epochs', '1', '--backbone', `mobilenetv2:alpha=${values.alpha}`, '--head', 'gap', '--lr', '0.01', '--no-bench'];
  for (const phase of values.runs.split(',').filter((r) => r === 'cold' || r === 'warm')) {
    const loadBefore = load();
    log(`${phase} cache: headbench run ${args.join(' ')} (load ${loadBefore})`);
    const r = await runCli(args, phase);
    const row = r.results.rows[0];
    const note = r.events.find((e) => e.event === 'note');
    const storage = r.events.find((e) => e.event === 'storage');
    const decoded = r.events.find((e) => e.event === 'decode-end');
    report[phase] = {
      load: `${loadBefore} -> ${load()}`,
      seconds: Math.round(r.seconds),
      peakRssGB: Math.round((r.rss.maxRssKB * 1024) / 1e7) / 100,
      storage: storage?.storage,
      decodedImages: decoded?.images ?? 0,
      decodeSeconds: decoded ? Math.round(decoded.seconds * 10) / 10 : 0,
      decodeImagesPerSecond: decoded ? Math.round(decoded.images / decoded.seconds) : null,
      decodeWorkers: decoded?.workers ?? null,
      // From the first line (before the dataset loads) to the storage line (ready to train).
      datasetSeconds: note && storage ? Math.round((storage.at - note.at) * 100) / 100 : null,
      cacheBytes: storage?.bytes,
      stepP50Ms: Math.round(row.stepTime.medianMs),
      stepP90Ms: Math.round(row.stepTime.p90Ms),
      steps: row.stepTime.samples,
      epochSeconds: Math.round(row.history[0].seconds),
      valAccuracy: row.finalValAccuracy,
      tensorsLeaked: row.tensors.leaked,
    };
    log(`${phase}: ${JSON.stringify(report[phase])}`);
  }
  // Cache reads on their own: random batches of 32 of the whole folder, with the rows file out of
  // the page cache (dd's nocache drops just that file) and then in it.
  const { imageFolderDataset, batches } = await import('@headbench/data');
  const { shuffledIndices, seededRandom } = await import('@headbench/stats');
  const events = [];
  const t0 = performance.now();
  const ds = imageFolderDataset({ train: folder, valSplit: 0.2, seed: 1, cacheDir, memoryBudget: 0, onEvent: (e) => events.push({ at: performance.now() - t0, ...e }) });
  const { train } = await ds.load(size);
  // The dataset from a warm cache in this process: listing and stat'ing the files, reading the manifest.
  report.warmLoad = { seconds: Math.round((performance.now() - t0) / 10) / 100, events: events.map((e) => e.type), decoded: events.filter((e) => e.type === 'decode-end').length };
  const pixels = fs.readdirSync(path.join(cacheDir, 'images')).map((d) => path.join(cacheDir, 'images', d, 'pixels.u8')).find((f) => fs.existsSync(f));
  report.reads = {};
  for (const page of ['dropped', 'cached']) {
    if (page === 'dropped') execFileSync('dd', [`if=${pixels}`, 'iflag=nocache', 'count=0', 'status=none']);
    const order = shuffledIndices(train.count, seededRandom(page === 'dropped' ? 1 : 2));
    const t0 = performance.now();
    for await (const _ of batches(train, order, 32)) void _;
    const s = (performance.now() - t0) / 1000;
    report.reads[page] = { imagesPerSecond: Math.round(train.count / s), seconds: Math.round(s * 10) / 10, load: load() };
  }
  ds.dispose();
  log(`cache reads: ${JSON.stringify(report.reads)}`);
}

// 3. The step on a subset, in memory and streamed, alternating.
if (!values['skip-steps']) {
  const { composeModel, fitModel } = await import('@headbench/core');
  const { imageFolderDataset } = await import('@headbench/data');
  const { sgd } = await import('@headbench/trainers');
  const { mobilenetv2 } = await import('@headbench/backbones');
  const { gap } = await import('@headbench/heads-gap');
  const subset = path.join(work, 'subset');
  for (const cls of fs.readdirSync(folder).sort()) {
    const files = fs.readdirSync(path.join(folder, cls)).sort();
    for (const [split, from, to] of [['train', 0, 120], ['val', 120, 130]]) {
      fs.mkdirSync(path.join(subset, split, cls), { recursive: true });
      for (const f of files.slice(from, to)) fs.symlinkSync(path.join(folder, cls, f), path.join(subset, split, cls, f));
    }
  }
  const open = (memoryBudget) => imageFolderDataset({ train: path.join(subset, 'train'), val: path.join(subset, 'val'), seed: 1, cacheDir, memoryBudget });
  const datasets = { memory: open(1e12), stream: open(0) };
  report.steps = [];
  for (const [alpha, inputSize] of [[0.35, 96], [1.0, 224]]) {
    const splits = { memory: await datasets.memory.load(inputSize), stream: await datasets.stream.load(inputSize) };
    const samples = { memory: { step: [], pace: [] }, stream: { step: [], pace: [] } };
    const ratios = [];
    const loadBefore = load();
    for (let round = 1; round <= Number(values.rounds); round++) {
      const order = round % 2 ? ['memory', 'stream'] : ['stream', 'memory'];
      const medians = {};
      for (const mode of order) {
        const backbone = mobilenetv2({ alpha });
        const { model } = await composeModel(backbone, gap(), { inputSize, classes: 5, seed: 1 });
        const { train, val } = splits[mode];
        if (train.storage !== mode) throw new Error(`the ${mode} dataset is ${train.storage}`);
        const stamps = [];
        const outcome = await fitModel(
          model,
          { train, val, classes: 5, preprocess: (x) => backbone.preprocess(x) },
          sgd(),
          { lr: 0.01, epochs: 1, batchSize: 32, seed: round, divergenceLoss: 1e3, onProgress: (e) => e.type === 'step' && stamps.push(performance.now()) },
        );
        model.dispose();
        // Pace: the time from one step's end to the next one's, data included (full batches, after the cold first).
        const pace = stamps.slice(2, -1).map((t, i) => t - stamps[i + 1]);
        samples[mode].step.push(...outcome.stepMs.samples);
        samples[mode].pace.push(...pace);
        medians[mode] = median(pace);
      }
      ratios.push(medians.stream / medians.memory);
      log(`alpha ${alpha} @${inputSize} round ${round}: pace memory ${medians.memory.toFixed(0)} ms, stream ${medians.stream.toFixed(0)} ms (load ${load()})`);
    }
    const row = {
      config: `alpha ${alpha} @${inputSize}`,
      load: `${loadBefore} -> ${load()}`,
      memoryStepP50: Math.round(median(samples.memory.step)),
      streamStepP50: Math.round(median(samples.stream.step)),
      memoryPaceP50: Math.round(median(samples.memory.pace)),
      streamPaceP50: Math.round(median(samples.stream.pace)),
      ratio: Math.round((median(samples.stream.pace) / median(samples.memory.pace)) * 1000) / 1000,
      perRound: `${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)}`,
      samples: samples.memory.pace.length,
    };
    report.steps.push(row);
    log(JSON.stringify(row));
  }
  datasets.memory.dispose();
  datasets.stream.dispose();
}

report.finished = new Date().toISOString();
report.loadAtEnd = load();
if (values.json) fs.writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
const md = [];
md.push(`Measured ${report.started.slice(0, 16).replace('T', ' ')} on ${report.machine}; load average (1/5/15 min) ${report.loadAtStart} at the start, ${report.loadAtEnd} at the end.`);
md.push('', `Folder: ${report.folder.images} JPEGs, ${(report.folder.bytes / 1e6).toFixed(0)} MB${report.folder.seconds ? `, written in ${report.folder.seconds} s` : ''}.`);
const runs = ['cold', 'warm'].filter((r) => report[r]);
if (runs.length) {
  md.push('', `| one epoch at ${size}, alpha ${values.alpha} | ${runs.map((r) => `${r} cache`).join(' | ')} |`, `|---|${runs.map(() => '---:').join('|')}|`);
  const line = (what, f) => md.push(`| ${what} | ${runs.map((r) => f(report[r])).join(' | ')} |`);
  line('images kept', (r) => r.storage);
  line('peak RSS', (r) => `${r.peakRssGB} GB`);
  line('images decoded', (r) => r.decodedImages);
  line('decode images/s', (r) => (r.decodeImagesPerSecond ? `${r.decodeImagesPerSecond} (${r.decodeWorkers} threads)` : '-'));
  line('dataset ready after', (r) => `${r.datasetSeconds} s`);
  line('train step p50 / p90', (r) => `${r.stepP50Ms} / ${r.stepP90Ms} ms`);
  line('epoch', (r) => `${r.epochSeconds} s`);
  line('whole run', (r) => `${r.seconds} s`);
  line('load average', (r) => r.load);
}
if (report.reads) {
  md.push('', `Warm cache, in one process: the dataset was ready in ${report.warmLoad.seconds} s (${report.warmLoad.events.join(', ')}; ${report.warmLoad.decoded} decodes).`);
  md.push('', `Cache reads (random batches of 32): ${report.reads.dropped.imagesPerSecond} images/s from disk (page cache dropped for the file), ${report.reads.cached.imagesPerSecond} images/s from the page cache.`);
}
if (report.steps) {
  md.push('', '| 600 train images | step p50 in memory | streamed | pace p50 in memory | streamed | streamed / in memory (pace) | per round | load |', '|---|---:|---:|---:|---:|---:|---:|---|');
  for (const r of report.steps) md.push(`| ${r.config} | ${r.memoryStepP50} ms | ${r.streamStepP50} ms | ${r.memoryPaceP50} ms | ${r.streamPaceP50} ms | ${r.ratio.toFixed(3)} | ${r.perRound} | ${r.load} |`);
}
process.stdout.write(`${md.join('\n')}\n`);
fs.rmSync(work, { recursive: true, force: true });
if (!values.cache) fs.rmSync(cacheDir, { recursive: true, force: true });
