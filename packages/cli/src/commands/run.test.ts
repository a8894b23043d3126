import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResults } from '@headbench/results';
import { FLOWERS_MINI } from '../presets.js';
import { buildCli, headbench } from '../testing/cli.js';

let tmp: string;
beforeAll(() => {
  buildCli();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-run-'));
  // The runs' image cache (inherited by the child processes), not the user's.
  process.env['HEADBENCH_CACHE_DIR'] = path.join(tmp, 'cache');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const results = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as RunResults;

// A random-weight MobileNetV2 at 32x32 on the synthetic dataset: seconds per combination.
const SMALL = ['--dataset', 'synthetic', '--classes', '3', '--images-per-class', '8', '--input-size', '32', '--epochs', '1', '--batch-size', '8', '--backbone', 'mobilenetv2:alpha=0.35,weights=none', '--no-bench', '--quiet'];

describe('headbench run', () => {
  it('trains on real images and beats chance clearly', async () => {
    // The bundled flowers (5 classes, chance 0.2), ImageNet alpha 0.35, 2 epochs at 96x96 (the
    // default preset's size; 0.615 here). At 64x64 it had passed 0.5 only on the wrong gradients
    // of TensorFlow's oneDNN Conv2DBackpropInput (0.515); corrected it gives 0.44-0.49.
    const out = path.join(tmp, 'flowers');
    const r = await headbench(['run', '--backbone', 'mobilenetv2:alpha=0.35', '--head', 'gap', '--lr', '0.01', '--input-size', '96', '--epochs', '2', '--out', out, '--quiet']);
    expect(r.errors).toEqual([]);
    expect(r.status).toBe(0);
    const [row] = results(out).rows;
    expect(row!.status).toBe('ok');
    expect(row!.dataset).toBe(`${FLOWERS_MINI}/train + ${FLOWERS_MINI}/val`);
    expect([row!.trainImages, row!.valImages]).toEqual([600, 200]);
    expect(row!.finalValAccuracy).toBeGreaterThan(0.5);
    expect(row!.weights).toMatch(/^imagenet/);
    expect(row!.tensors!.leaked).toBe(0);
    // The tinybench timings of the trained model.
    expect(row!.bench!.train.samples).toBeGreaterThanOrEqual(10);
    expect(row!.bench!.inferenceSingle.latency.p50).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/\| mobilenetv2:alpha=0\.35 \| gap +\| sgd +\| 0\.01 \|/);
    expect(fs.readFileSync(path.join(out, 'summary.md'), 'utf8')).toContain('final val acc');
  });

  it('marks a diverging combination and goes on with the others', async () => {
    const out = path.join(tmp, 'diverge');
    const r = await headbench(['run', ...SMALL, '--head', 'gap', '--lr', '1e9', '--lr', '0.01', '--out', out]);
    expect(r.status).toBe(0);
    expect(results(out).rows.map((row) => [row.lr, row.status])).toEqual([[1e9, 'diverged'], [0.01, 'ok']]);
  });

  it('turns a failing plugin into an error row, finishes the rest and exits 1', async () => {
    const plugin = path.join(tmp, 'broken-head.mjs');
    fs.writeFileSync(plugin, "export default () => ({ meta: { name: 'broken', version: '0.0.1', kind: 'head' }, schema: {}, options: {}, build() { throw new Error('kaboom'); } });");
    const out = path.join(tmp, 'error-row');
    const r = await headbench(['run', ...SMALL, '--plugin', plugin, '--head', 'broken', '--head', 'gap', '--lr', '0.01', '--out', out]);
    expect(r.status).toBe(1);
    expect(results(out).rows.map((row) => [row.head, row.status, row.error ?? ''])).toEqual([['broken', 'error', 'kaboom'], ['gap', 'ok', '']]);
  });

  it('turns a combination whose process dies in native code into an error row naming the signal, and goes on', async () => {
    // A head that kills its process with SIGFPE while the model is built: the death a oneDNN
    // kernel dividing by zero brings (seen with ResNet50 on AVX-512 machines), on any CPU.
    const plugin = path.join(tmp, 'crash-head.mjs');
    fs.writeFileSync(plugin, "export default () => ({ meta: { name: 'crash', version: '0.0.1', kind: 'head' }, schema: {}, options: {}, build() { process.kill(process.pid, 'SIGFPE'); } });");
    for (const [name, heads] of [['second', ['gap', 'crash', 'flatten']], ['first', ['crash', 'gap']]] as const) {
      const out = path.join(tmp, `native-crash-${name}`);
      const r = await headbench(['run', ...SMALL, '--plugin', plugin, ...heads.flatMap((h) => ['--head', h]), '--lr', '0.01', '--out', out]);
      expect(r.status, r.stderr).toBe(1);
      const crash = `mobilenetv2:alpha=0.35,weights=none|crash|lr=0.01|seed=1`;
      expect(r.errors).toContain(`headbench: TensorFlow died in native code with SIGFPE (an arithmetic fault such as an integer division by zero) while ${crash} trained; it becomes an error row and the run goes on in a new process`);
      const written = results(out);
      expect(written.rows.map((row) => [row.head, row.status, row.signal])).toEqual(heads.map((h) => (h === 'crash' ? [h, 'error', 'SIGFPE'] : [h, 'ok', undefined])));
      expect(written.rows.find((row) => row.head === 'crash')!.error).toMatch(/^TensorFlow died in native code with SIGFPE .* while this combination trained; the run went on in a new process/);
      // The run went on in the same folder: a new run that had rows is resumed, one that had none starts again.
      expect(written.runs!.map((run) => [run.mode, run.continuedAfter?.map((c) => c.signal)])).toEqual(name === 'second' ? [['new', undefined], ['resume', ['SIGFPE']]] : [['new', ['SIGFPE']]]);
      expect(fs.existsSync(path.join(out, 'headbench.lock'))).toBe(false);
    }
  });

  it('says in one line when the training process is killed from outside (SIGKILL, as by the out-of-memory killer), and keeps the finished rows', async () => {
    const plugin = path.join(tmp, 'killed-head.mjs');
    fs.writeFileSync(plugin, "export default () => ({ meta: { name: 'killed', version: '0.0.1', kind: 'head' }, schema: {}, options: {}, build() { process.kill(process.pid, 'SIGKILL'); } });");
    const out = path.join(tmp, 'killed');
    const r = await headbench(['run', ...SMALL, '--plugin', plugin, '--head', 'gap', '--head', 'killed', '--lr', '0.01', '--out', out]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.errors).toEqual([
      `headbench: the training process was killed by SIGKILL (often the kernel's out-of-memory killer: see dmesg, and lower --memory-budget or --batch-size) while mobilenetv2:alpha=0.35,weights=none|killed|lr=0.01|seed=1 trained; the finished rows are kept: continue with --resume --out ${out}`,
    ]);
    expect(results(out).rows.map((row) => [row.head, row.status])).toEqual([['gap', 'ok']]);
  });

  it('keeps finished rows when interrupted, and --resume runs only the rest', async () => {
    const out = path.join(tmp, 'interrupted');
    const args = ['run', ...SMALL, '--head', 'gap', '--lr', '0.01', '--seed', '1', '--seed', '2', '--seed', '3', '--seed', '4', '--out', out];
    const first = await headbench(args, undefined, (child) => {
      const timer = setInterval(() => {
        if (fs.existsSync(path.join(out, 'results.json'))) {
          clearInterval(timer);
          child.kill('SIGINT');
        }
      }, 50);
      child.on('close', () => clearInterval(timer));
    });
    expect(first.status).toBe(130);
    expect(first.errors.join('\n')).toContain(`continue with --resume --out ${out}`);
    const kept = results(out).rows.map((row) => row.id);
    expect(kept.length).toBeGreaterThanOrEqual(1);
    expect(kept.length).toBeLessThan(4);

    const again = await headbench(args);
    expect(again.status).toBe(2);
    expect(again.errors).toEqual([`headbench: ${path.join(out, 'results.json')} already exists: continue that run with --resume, add combinations to it with --extend, or choose another --out folder`]);

    const resumed = await headbench([...args, '--resume']);
    expect(resumed.status).toBe(0);
    const rows = results(out).rows;
    expect(rows.map((row) => row.seed)).toEqual([1, 2, 3, 4]);
    // The kept rows are the same objects as before: not trained again.
    const before = kept.length;
    expect(rows.slice(0, before).map((row) => row.id)).toEqual(kept);
  });

  it('splits the plan into shards that merge into the whole', async () => {
    const base = ['run', ...SMALL, '--head', 'gap', '--head', 'flatten', '--lr', '0.01', '--seed', '1', '--seed', '2'];
    const [a, b] = await Promise.all([1, 2].map((i) => headbench([...base, '--shard', `${i}/2`, '--out', path.join(tmp, `shard${i}`)])));
    expect([a!.status, b!.status]).toEqual([0, 0]);
    expect(results(path.join(tmp, 'shard1')).rows).toHaveLength(2);
    const merged = await headbench(['merge', path.join(tmp, 'shard1'), path.join(tmp, 'shard2', 'results.json'), '--out', path.join(tmp, 'merged')]);
    expect(merged.status).toBe(0);
    expect(results(path.join(tmp, 'merged')).rows.map((row) => `${row.head}/${row.seed}`).sort()).toEqual(['flatten/1', 'flatten/2', 'gap/1', 'gap/2']);
  });

  it('prints groups over seeds and the verdict tables; the same numbers are in results.json, results.csv and summary.md; TensorBoard reads the event files', async () => {
    const out = path.join(tmp, 'verdicts');
    const tb = path.join(tmp, 'tensorboard');
    const r = await headbench(['run', ...SMALL, '--head', 'gap', '--head', 'flatten', '--lr', '0.01', '--lr', '0.05', '--seed', '1', '--seed', '2', '--test-split', '0.25', '--out', out, '--tensorboard', tb]);
    expect(r.errors).toEqual([]);
    expect(r.status).toBe(0);
    const res = results(out);
    expect(res.schemaVersion).toBe(2);
    expect(res.baseline).toBe('gap');
    expect(res.groups!.map((g) => [g.head, g.lr, g.seeds])).toEqual([['gap', 0.01, [1, 2]], ['gap', 0.05, [1, 2]], ['flatten', 0.01, [1, 2]], ['flatten', 0.05, [1, 2]]]);
    expect(res.rows.every((row) => row.testImages === 6 && row.perImage?.val?.images === 12 && row.perImage.test?.images === 6)).toBe(true);
    const perLr = res.comparisons!.filter((c) => c.selection === 'per-lr');
    expect(perLr.map((c) => [c.candidate, c.baseline, c.lr, c.seeds])).toEqual([['flatten', 'gap', 0.01, 2], ['flatten', 'gap', 0.05, 2]]);
    for (const c of res.comparisons!) expect(['better', 'worse', 'no difference detected']).toContain(c.verdict);
    const best = res.comparisons!.find((c) => c.selection === 'best-lr')!;
    expect(best.split).toBe('test');
    // The terminal, summary.md and results.json agree.
    const summary = fs.readFileSync(path.join(out, 'summary.md'), 'utf8');
    expect(r.stdout).toContain(summary);
    const g = res.groups![0]!.metrics.finalValAccuracy!;
    expect(summary).toContain(`${g.mean.toFixed(3)} ± ${g.halfWidth!.toFixed(3)} (2)`);
    const points = (v: number) => `${v >= 0 ? '+' : ''}${(100 * v).toFixed(1)}`;
    expect(summary).toContain(`| ${points(perLr[0]!.difference).padEnd(19)} | [${points(perLr[0]!.ci95[0])}, ${points(perLr[0]!.ci95[1])}]`);
    expect(summary).toContain('the verdict is on the test split');
    // RFC 4180 fields: specifiers with commas are quoted.
    const fields = (line: string) => [...line.matchAll(/("(?:[^"]|"")*"|[^,]*)(?:,|$)/g)].map((m) => m[1]!.replace(/^"|"$/g, '').replaceAll('""', '"')).slice(0, -1);
    const csv = fs.readFileSync(path.join(out, 'results.csv'), 'utf8').split('\n');
    const header = fields(csv[0]!);
    expect(fields(csv[1]!)[header.indexOf('group_finalValAccuracy_mean')]).toBe(String(Number(g.mean.toFixed(6))));

    // One TensorBoard run folder per combination, each epoch's scalars in it.
    const index = JSON.parse(fs.readFileSync(path.join(tb, 'runs.json'), 'utf8')) as Record<string, string>;
    expect(Object.values(index).sort()).toEqual(res.rows.map((row) => row.id).sort());
    expect(Object.keys(index).every((folder) => /^[A-Za-z0-9._=,+-]+$/.test(folder) && fs.readdirSync(path.join(tb, folder)).some((f) => f.startsWith('events.out.tfevents')))).toBe(true);
    const python = path.join(os.homedir(), '.cache/headbench/keras-venv/bin/python');
    if (!fs.existsSync(python)) {
      console.warn(`skipped reading the event files with TensorFlow: no venv at ${python} (tools/keras-reference/setup-venv.sh makes it)`);
      return;
    }
    const read = spawnSync(python, ['-c', [
      'import glob, json, os, sys',
      'os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"',
      'import tensorflow as tf',
      'out = {}',
      'for d in sorted(glob.glob(os.path.join(sys.argv[1], "*/"))):',
      '    tags = {}',
      '    for f in glob.glob(os.path.join(d, "events.out.tfevents*")):',
      '        for e in tf.compat.v1.train.summary_iterator(f):',
      '            for v in e.summary.value:',
      '                value = float(tf.make_ndarray(v.tensor)) if v.HasField("tensor") and v.tensor.dtype else v.simple_value',
      '                tags.setdefault(v.tag, []).append([e.step, value])',
      '    out[os.path.basename(os.path.normpath(d))] = tags',
      'print(json.dumps(out))',
    ].join('\n'), tb], { encoding: 'utf8' });
    expect(read.status, read.stderr).toBe(0);
    const events = JSON.parse(read.stdout.trim().split('\n').at(-1)!) as Record<string, Record<string, [number, number][]>>;
    for (const [folder, id] of Object.entries(index)) {
      const row = res.rows.find((x) => x.id === id)!;
      const tags = events[folder]!;
      expect(Object.keys(tags).sort()).toEqual(['accuracy/test', 'accuracy/train', 'accuracy/val', 'loss/train', 'loss/val']);
      expect(tags['accuracy/val']!.map(([step]) => step)).toEqual(row.history.map((h) => h.epoch));
      expect(tags['accuracy/val']!.map(([, v]) => v)).toEqual(row.history.map((h) => Math.fround(h.valAccuracy)));
      expect(tags['accuracy/test']![0]![1]).toBeCloseTo(row.testAccuracy!, 6);
    }
  });

  it('extends finished shards with another learning rate, keeps every row, and merges them', async () => {
    const axes = ['--head', 'gap', '--head', 'flatten', '--seed', '1', '--seed', '2'];
    const dirs = [1, 2].map((i) => path.join(tmp, `extend-shard${i}`));
    const run = (lr: string, i: number, ...more: string[]) => headbench(['run', ...SMALL, ...axes, '--lr', lr, '--shard', `${i + 1}/2`, ...more, '--out', dirs[i]!]);
    expect((await Promise.all(dirs.map((_, i) => run('0.01', i)))).map((r) => r.status)).toEqual([0, 0]);
    const before = dirs.map((d) => results(d).rows);
    const extended = await Promise.all(dirs.map((_, i) => run('0.05', i, '--extend')));
    expect(extended.map((r) => [r.status, r.errors])).toEqual([[0, []], [0, []]]);
    dirs.forEach((d, i) => {
      const r = results(d);
      // Results only grow: the first plan's rows are untouched, the new ones follow.
      expect(r.rows.slice(0, 2)).toEqual(before[i]);
      expect(r.rows.map((row) => row.lr)).toEqual([0.01, 0.01, 0.05, 0.05]);
      expect(r.runs!.map((x) => [x.mode, x.plan['lr'], x.plan['shard'], x.trained.length])).toEqual([['new', [0.01], `${i + 1}/2`, 2], ['extend', [0.05], `${i + 1}/2`, 2]]);
      expect(r.runs![1]!.argv).toContain('--extend');
    });
    // Either plan of an extended folder resumes; with nothing left to train the file stays as it is.
    const file = path.join(dirs[0]!, 'results.json');
    const unchanged = fs.readFileSync(file, 'utf8');
    const resumed = await run('0.01', 0, '--resume');
    expect(resumed.status).toBe(0);
    expect(fs.readFileSync(file, 'utf8')).toBe(unchanged);
    const merged = await headbench(['merge', ...dirs, '--out', path.join(tmp, 'extend-merged')]);
    expect([merged.status, merged.errors]).toEqual([0, []]);
    const all = results(path.join(tmp, 'extend-merged'));
    expect(all.rows.map((row) => `${row.head}/${row.lr}/${row.seed}`).sort()).toEqual(
      ['flatten', 'gap'].flatMap((h) => ['0.01', '0.05'].flatMap((lr) => [1, 2].map((seed) => `${h}/${lr}/${seed}`))),
    );
    expect(all.runs).toHaveLength(4);
    expect(all.mergedFrom).toEqual(dirs.map((d) => path.join(d, 'results.json')));
  });

  it('gives the same metrics for the same seed', async () => {
    const args = ['run', ...SMALL, '--head', 'gap', '--lr', '0.05', '--epochs', '2'];
    const [x, y] = await Promise.all(['same1', 'same2'].map((d) => headbench([...args, '--out', path.join(tmp, d)])));
    expect([x!.status, y!.status]).toEqual([0, 0]);
    const history = (d: string) => results(path.join(tmp, d)).rows[0]!.history.map(({ seconds: _s, ...m }) => m);
    expect(history('same2')).toEqual(history('same1'));
  });
});
