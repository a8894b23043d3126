// Bad input through the real command line: each case asserts the exit code, one line that names
// the problem (no stack trace, no "this is a bug"), and that a results.json already there is
// byte-for-byte unchanged or only grew. Cases run concurrently; each costs a CLI start (about a
// second of loading TensorFlow) and most train nothing.
//
// HEADBENCH_BAD_INPUT_TABLE=<file> writes the cases and the line each got as a Markdown table.
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResults } from '@headbench/results';
import { FLOWERS_MINI } from './presets.js';
import { buildCli, headbench, packagesDir, type Result, type RunAs } from './testing/cli.js';

// A random-weight MobileNetV2 at 32x32 on 4 synthetic images: about a second per combination.
const SMALL = ['--dataset', 'synthetic', '--classes', '2', '--images-per-class', '2', '--input-size', '32', '--epochs', '1', '--batch-size', '4', '--backbone', 'mobilenetv2:alpha=0.35,weights=none', '--no-bench', '--quiet'];
const BASE_PLAN = ['--head', 'gap', '--head', 'flatten', '--lr', '0.1', '--lr', '0.01'];
const DATASET = 'synthetic(classes=2,train=2,val=1,seed=1) (2 classes, 4 train / 2 val images)';

const isRoot = process.getuid?.() === 0;
const linux = process.platform === 'linux';
let tmp: string;
let base: string;
const mounts: string[] = [];
const table: [string, number | null, string][] = [];

const sha = (file: string) => {
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  return !stat ? 'absent' : stat.isDirectory() ? 'a folder' : crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
};
const results = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as RunResults;
/** Temporary files and locks left in a folder (there must be none after a command ends). */
const leftovers = (dir: string) => (fs.existsSync(dir) && fs.statSync(dir).isDirectory() ? fs.readdirSync(dir).filter((f) => /\.tmp$|^headbench\.lock$/.test(f)) : []);

/** A copy of the finished 4-row run, for a case to work on alone. */
function copyOfBase(name: string): string {
  const dir = path.join(tmp, name);
  fs.cpSync(base, dir, { recursive: true });
  return dir;
}

function tryMount(dir: string, options: string): string | undefined {
  if (!isRoot || !linux) return 'needs root on Linux to mount a tmpfs';
  fs.mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'pipe' });
    mounts.push(dir);
    return undefined;
  } catch (error) {
    return `mount -t tmpfs failed: ${String((error as { stderr?: unknown }).stderr ?? error).trim()}`;
  }
}

/** Fills a filesystem to the last byte. */
function fill(dir: string): void {
  const fd = fs.openSync(path.join(dir, 'filler'), 'w');
  try {
    for (let chunk = 1 << 20; chunk >= 1; chunk >>= 2) {
      const bytes = Buffer.alloc(chunk);
      for (;;) {
        try {
          fs.writeSync(fd, bytes);
        } catch {
          break;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Image folders of copies of one flowers-mini JPEG: `{ a: 2, b: 3 }` is two classes. */
function imageFolder(name: string, layout: Record<string, number>): string {
  const dir = path.join(tmp, name);
  const sample = path.join(FLOWERS_MINI, 'train', 'daisy');
  const jpg = path.join(sample, fs.readdirSync(sample)[0]!);
  for (const [cls, n] of Object.entries(layout)) {
    fs.mkdirSync(path.join(dir, cls), { recursive: true });
    for (let i = 0; i < n; i++) fs.copyFileSync(jpg, path.join(dir, cls, `${i}.jpg`));
  }
  return dir;
}

let fullSkip: string | undefined;
let readOnlySkip: string | undefined;
const noPermissionAs = (): RunAs => (isRoot ? { uid: 65534, gid: 65534 } : {});
/**
 * Why the cases that run as uid 65534 cannot run here: that user must be able to enter every
 * folder above the repository to start the CLI (a clone under `mktemp -d`, mode 700, is not).
 */
const unprivilegedSkip = (): string | undefined => {
  if (!isRoot) return undefined;
  for (let dir = path.dirname(packagesDir); ; dir = path.dirname(dir)) {
    const mode = fs.statSync(dir).mode & 0o777;
    if ((mode & 0o001) === 0) return `uid 65534 cannot enter ${dir} (mode ${mode.toString(8)}) to start the CLI; clone under a folder others may enter`;
    if (path.dirname(dir) === dir) return undefined;
  }
};

beforeAll(async () => {
  buildCli();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-bad-'));
  // Readable by the unprivileged user some cases run as.
  fs.chmodSync(tmp, 0o755);
  base = path.join(tmp, 'base');
  const r = await headbench(['run', ...SMALL, ...BASE_PLAN, '--out', base]);
  if (r.status !== 0) throw new Error(`the base run failed: ${r.stderr}`);
  fullSkip = tryMount(path.join(tmp, 'full'), 'size=64k');
  if (!fullSkip) fill(path.join(tmp, 'full'));
  readOnlySkip = tryMount(path.join(tmp, 'ro'), 'ro,size=64k');
}, 300_000);

afterAll(() => {
  for (const dir of mounts.reverse()) execFileSync('umount', [dir]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  const out = process.env['HEADBENCH_BAD_INPUT_TABLE'];
  if (out && table.length) {
    const rows = table.map(([what, status, line]) => `| ${what} | ${status} | \`${line.replaceAll(tmp, '<tmp>').replaceAll('|', '\\|')}\` |`);
    fs.writeFileSync(out, ['| bad input | exit | message |', '|---|---:|---|', ...rows, ''].join('\n'));
  }
});

/** Exit code, exactly one line that is the message, nothing that looks like a crash. */
function expectOneLine(r: Result, status: number, message: string | RegExp, what: string): void {
  table.push([what, r.status, r.errors.join(' / ')]);
  expect({ status: r.status, signal: r.signal }, r.stderr).toEqual({ status, signal: null });
  expect(r.stderr).not.toMatch(/^\s+at |this is a bug|^\w*Error:/m);
  expect(r.errors, r.stderr).toHaveLength(1);
  if (typeof message === 'string') expect(r.errors[0]).toBe(`headbench: ${message}`);
  else expect(r.errors[0]).toMatch(message);
}

interface Case {
  what: string;
  /** Prepares what the case needs and returns the arguments. */
  args: () => string[];
  status?: 1 | 2;
  message: (args: string[]) => string | RegExp;
  /** A folder whose results.json must not change (and where nothing may be left behind). */
  keeps?: (args: string[]) => string;
  as?: () => RunAs;
  skip?: () => string | undefined;
}

const out = (args: string[]) => args[args.indexOf('--out') + 1]!;
const json = (dir: string) => path.join(dir, 'results.json');

const cases: Case[] = [
  // The results folder: results only grow.
  {
    what: '--resume with another --lr (the 4 finished rows were dropped before)',
    args: () => ['run', ...SMALL, '--lr', '0.5', '--resume', '--out', copyOfBase('resume-lr')],
    message: (a) => `--resume: ${json(out(a))} holds another plan (--lr: was 0.1, 0.01; now 0.5); add these combinations to its 4 rows with --extend --out ${out(a)} instead, or choose another --out`,
    keeps: out,
  },
  {
    what: '--resume with another --epochs',
    args: () => ['run', ...SMALL, ...BASE_PLAN, '--epochs', '2', '--resume', '--out', copyOfBase('resume-epochs')],
    message: (a) =>
      `--resume: ${json(out(a))} was written with other settings (--epochs: was 1; now 2); rows of other settings cannot share one results file, so its 4 rows stay as they are: choose another --out, or repeat the settings it was written with`,
    keeps: out,
  },
  {
    what: '--resume with another --input-size and --head',
    args: () => ['run', ...SMALL, '--head', 'gap', '--lr', '0.1', '--lr', '0.01', '--input-size', '48', '--resume', '--out', copyOfBase('resume-size')],
    message: (a) =>
      `--resume: ${json(out(a))} was written with other settings (--input-size: was 32; now 48 | --head: was gap, flatten; now gap); rows of other settings cannot share one results file, so its 4 rows stay as they are: choose another --out, or repeat the settings it was written with`,
    keeps: out,
  },
  {
    what: '--resume with a --trainer the run did not have',
    args: () => ['run', ...SMALL, ...BASE_PLAN, '--trainer', 'adam', '--resume', '--out', copyOfBase('resume-trainer')],
    message: (a) => `--resume: ${json(out(a))} holds another plan (--trainer: was not recorded; now adam); add these combinations to its 4 rows with --extend --out ${out(a)} instead, or choose another --out`,
    keeps: out,
  },
  {
    what: '--resume with a --shard the run did not have',
    args: () => ['run', ...SMALL, ...BASE_PLAN, '--shard', '1/2', '--resume', '--out', copyOfBase('resume-shard')],
    message: (a) => `--resume: ${json(out(a))} holds another plan (--shard: was none; now 1/2); add these combinations to its 4 rows with --extend --out ${out(a)} instead, or choose another --out`,
    keeps: out,
  },
  {
    what: '--resume on another dataset',
    args: () => ['run', ...SMALL, ...BASE_PLAN, '--images-per-class', '3', '--resume', '--out', copyOfBase('resume-data')],
    message: (a) =>
      `--resume: ${json(out(a))} was written with other settings (--dataset: was ${DATASET}; now synthetic(classes=2,train=3,val=2,seed=1) (2 classes, 6 train / 4 val images)); rows of other settings cannot share one results file, so its 4 rows stay as they are: choose another --out, or repeat the settings it was written with`,
    keeps: out,
  },
  {
    what: '--out with results, without --resume or --extend',
    args: () => ['run', ...SMALL, ...BASE_PLAN, '--out', copyOfBase('again')],
    message: (a) => `${json(out(a))} already exists: continue that run with --resume, add combinations to it with --extend, or choose another --out folder`,
    keeps: out,
  },
  {
    what: '--extend with another --epochs',
    args: () => ['run', ...SMALL, '--lr', '0.5', '--epochs', '2', '--extend', '--out', copyOfBase('extend-epochs')],
    message: (a) =>
      `--extend: ${json(out(a))} was written with other settings (--epochs: was 1; now 2); rows of other settings cannot share one results file, so its 4 rows stay as they are: choose another --out, or repeat the settings it was written with`,
    keeps: out,
  },
  {
    what: '--resume and --extend together',
    args: () => ['run', ...SMALL, '--resume', '--extend', '--out', copyOfBase('both')],
    message: () => "option '--extend' cannot be used with option '--resume'",
    keeps: out,
  },
  { what: '--resume without --out', args: () => ['run', ...SMALL, '--resume'], message: () => '--resume needs the --out folder of the results to continue' },
  { what: '--extend without --out', args: () => ['run', ...SMALL, '--extend'], message: () => '--extend needs the --out folder of the results to extend' },
  {
    what: '--resume of a results.json that is not JSON',
    args: () => {
      const dir = copyOfBase('not-json');
      fs.writeFileSync(json(dir), '{"schema": "headbench/results", "rows": [');
      return ['run', ...SMALL, ...BASE_PLAN, '--resume', '--out', dir];
    },
    message: (a) => new RegExp(`^headbench: ${esc(json(out(a)))} is not valid JSON \\(.+\\); it is not a results file headbench wrote whole: choose another --out, or restore the file$`),
    keeps: out,
  },
  {
    what: '--resume of a JSON file that is not headbench results',
    args: () => {
      const dir = copyOfBase('not-results');
      fs.writeFileSync(json(dir), '{"hello": 1}\n');
      return ['run', ...SMALL, ...BASE_PLAN, '--resume', '--out', dir];
    },
    message: (a) => `${json(out(a))} is not a headbench results file (schema is undefined)`,
    keeps: out,
  },
  {
    what: '--resume where results.json is a folder',
    args: () => {
      const dir = path.join(tmp, 'json-folder');
      fs.mkdirSync(json(dir), { recursive: true });
      return ['run', ...SMALL, ...BASE_PLAN, '--resume', '--out', dir];
    },
    message: (a) => `cannot read ${json(out(a))}: illegal operation on a directory (EISDIR); a folder is in the way where a file is needed: move it or choose another name`,
    keeps: out,
  },
  {
    what: 'a lock held by a run on another host',
    args: () => {
      const dir = copyOfBase('other-host');
      fs.writeFileSync(path.join(dir, 'headbench.lock'), JSON.stringify({ pid: 4242, hostname: 'build-7', startedAt: '2025-01-01T00:00:00.000Z', argv: ['run', '--preset', 'nightly'], cwd: '/' }));
      return ['run', ...SMALL, ...BASE_PLAN, '--resume', '--out', dir];
    },
    message: (a) =>
      `${out(a)} is locked by headbench pid 4242 on build-7, started 2025-01-01T00:00:00.000Z (headbench run --preset nightly); wait for that run, or if it is gone, delete ${path.join(out(a), 'headbench.lock')}`,
    keeps: out,
  },
  {
    what: '--resume of results written by an older headbench (no plan recorded)',
    args: () => {
      const dir = copyOfBase('legacy');
      const { runs: _runs, ...legacy } = results(dir);
      fs.writeFileSync(json(dir), JSON.stringify({ ...legacy, config: { preset: 'default', dataset: 'synthetic(classes=2,train=2,val=1,seed=1)', inputSize: 32, epochs: 1, batchSize: 4, momentum: 0, shard: null, bench: false } }));
      return ['run', ...SMALL, ...BASE_PLAN, '--resume', '--out', dir];
    },
    message: (a) => `--resume: ${json(out(a))} was written by an older headbench that did not record its plan, so it cannot be continued safely; its 4 rows stay as they are: choose another --out`,
    keeps: out,
  },

  // The filesystem under --out.
  {
    what: '--out on a full disk (tmpfs of 64 KiB, filled)',
    args: () => ['run', ...SMALL, '--lr', '0.1', '--out', path.join(tmp, 'full', 'r')],
    message: (a) => `cannot create the lock file ${path.join(out(a), 'headbench.lock')}: no space left on device (ENOSPC); free some space on that disk or write to another one`,
    keeps: out,
    skip: () => fullSkip,
  },
  {
    what: '--out names an existing file',
    args: () => {
      const file = path.join(tmp, 'a-file');
      fs.writeFileSync(file, 'not a folder\n');
      return ['run', ...SMALL, '--out', file];
    },
    message: (a) => `cannot create folder ${out(a)}: a file of that name exists (EEXIST); choose another folder, or move the file away`,
  },
  {
    what: '--out under a file',
    args: () => {
      const file = path.join(tmp, 'b-file');
      fs.writeFileSync(file, 'not a folder\n');
      return ['run', ...SMALL, '--out', path.join(file, 'sub')];
    },
    message: (a) => `cannot create folder ${out(a)}: ${path.dirname(out(a))} is a file, not a folder (ENOTDIR); choose a path under a folder`,
  },
  {
    what: '--out under /proc, where mkdir -p never ends (killed after 60 s if it spins)',
    args: () => ['run', ...SMALL, '--out', '/proc/headbench-x'],
    message: () => 'cannot create folder /proc/headbench-x: the system says "no such file or directory" although /proc exists (a virtual filesystem such as /proc or /sys takes no new folders); choose a folder on a disk',
    skip: () => (linux ? undefined : 'needs Linux /proc'),
  },
  {
    what: '--out with a name too long for the filesystem',
    args: () => ['run', ...SMALL, '--out', path.join(tmp, 'n'.repeat(300))],
    message: (a) => `cannot create folder ${out(a)}: name too long (ENAMETOOLONG); choose a shorter path`,
  },
  {
    what: '--out on a read-only filesystem',
    args: () => ['run', ...SMALL, '--out', path.join(tmp, 'ro', 'r')],
    message: (a) => `cannot create folder ${out(a)}: read-only file system (EROFS); that filesystem is mounted read-only: write to a writable disk`,
    skip: () => readOnlySkip,
  },
  {
    what: '--out in a folder the user may not write to',
    args: () => {
      const dir = path.join(tmp, 'no-write');
      fs.mkdirSync(dir);
      fs.chmodSync(dir, 0o555);
      return ['run', ...SMALL, '--out', path.join(dir, 'r')];
    },
    message: (a) => `cannot create folder ${out(a)}: permission denied (EACCES); write to a folder you may write to, or change its permissions`,
    as: noPermissionAs,
    skip: unprivilegedSkip,
  },

  // Data.
  {
    what: 'every image of a class undecodable',
    args: () => {
      const dir = imageFolder('all-broken', { a: 3, b: 0 });
      fs.mkdirSync(path.join(dir, 'b'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'b', 'x.jpg'), 'not a jpeg');
      return ['run', '--train', dir, '--val-split', '0.3', ...SMALL.slice(6), '--out', path.join(tmp, 'never-1')];
    },
    message: () => /^headbench: after skipping files that do not decode, the (train|val) images have no images of class b$/,
    keeps: out,
  },
  {
    what: 'a missing --train folder',
    args: () => ['run', '--train', path.join(tmp, 'nope'), '--val-split', '0.2', ...SMALL.slice(6), '--out', path.join(tmp, 'never-2')],
    message: () => `train folder ${path.join(tmp, 'nope')} does not exist`,
    keeps: out,
  },
  {
    what: '--train names a file',
    args: () => ['run', '--train', path.join(base, 'results.json'), '--val-split', '0.2', ...SMALL.slice(6), '--out', path.join(tmp, 'never-3')],
    message: () => `train folder ${path.join(base, 'results.json')} is a file; expected a folder laid out as <folder>/<class>/<image>`,
  },
  {
    what: 'one class folder',
    args: () => ['run', '--train', imageFolder('one', { a: 3 }), '--val-split', '0.5', ...SMALL.slice(6), '--out', path.join(tmp, 'never-4')],
    message: () => `train folder ${path.join(tmp, 'one')} has 1 class folder (a); a classification dataset needs at least two, laid out as <folder>/<class>/<image>`,
  },
  {
    what: 'a class folder without images',
    args: () => ['run', '--train', imageFolder('empty', { a: 2, b: 0 }), '--val-split', '0.5', ...SMALL.slice(6), '--out', path.join(tmp, 'never-5')],
    message: () => `class "b" in train folder ${path.join(tmp, 'empty')} has no images (.bmp, .gif, .jpeg, .jpg, .png)`,
  },
  {
    what: 'val classes that differ from train',
    args: () => ['run', '--train', imageFolder('t', { a: 2, b: 2 }), '--val', imageFolder('v', { a: 2, c: 2 }), ...SMALL.slice(6), '--out', path.join(tmp, 'never-6')],
    message: () => `the classes of ${path.join(tmp, 'v')} differ from those of ${path.join(tmp, 't')} (missing in val: b; only in val: c); both folders need the same class sub-folders`,
  },
  {
    what: 'a class folder the user may not read',
    args: () => {
      const dir = imageFolder('unreadable', { a: 2, b: 2 });
      fs.chmodSync(path.join(dir, 'b'), 0o000);
      return ['run', '--train', dir, '--val-split', '0.5', ...SMALL.slice(6), '--out', path.join(tmp, 'never-7')];
    },
    message: () => `cannot read folder ${path.join(tmp, 'unreadable', 'b')}: permission denied (EACCES); make it readable (chmod) or run as a user who may read it`,
    as: noPermissionAs,
    skip: unprivilegedSkip,
  },
  {
    what: 'test classes that differ from train',
    args: () => ['run', '--train', imageFolder('t2', { a: 2, b: 2 }), '--val', imageFolder('v2', { a: 2, b: 2 }), '--test', imageFolder('x2', { a: 2, d: 2 }), ...SMALL.slice(6), '--out', path.join(tmp, 'never-11')],
    message: () => `the classes of ${path.join(tmp, 'x2')} differ from those of ${path.join(tmp, 't2')} (missing in test: b; only in test: d); both folders need the same class sub-folders`,
  },
  { what: 'both a test folder and a test split', args: () => ['run', '--test', tmp, '--test-split', '0.2', '--quiet', '--out', path.join(tmp, 'never-12')], message: () => 'give either --test <dir> or --test-split <fraction>, not both' },
  { what: 'a test split that is no fraction', args: () => ['run', '--test-split', '1.5'], message: () => "option '--test-split <fraction>' argument '1.5' is invalid. expected a fraction between 0 and 1, e.g. 0.2" },
  {
    what: 'a baseline that is not a head of the run',
    args: () => ['run', ...SMALL, '--head', 'gap', '--baseline', 'flatten', '--out', path.join(tmp, 'never-13')],
    message: () => "--baseline flatten: the baseline must be one of the run's heads (gap); add it with --head flatten or pick one of those",
  },
  { what: 'an unknown --trainer', args: () => ['run', ...SMALL, '--trainer', 'lamb'], message: () => 'unknown trainer "lamb"; known trainers: adam, adamw, rmsprop, sgd (load others with --plugin <package> or a headbench.config.js)' },
  { what: 'a trainer whose frozen epochs exceed --epochs', args: () => ['run', ...SMALL, '--trainer', 'adam:freezeEpochs=3', '--out', path.join(tmp, 'never-14')], message: () => "adam: freezeEpochs=3 is more than the run's 1 epochs; give --epochs at least 3 or fewer frozen epochs" },
  { what: '--momentum beside --trainer', args: () => ['run', ...SMALL, '--trainer', 'adam', '--momentum', '0.9'], message: () => "--momentum 0.9 is SGD's momentum, but --trainer names the trainers; write --trainer sgd:momentum=0.9 instead" },
  { what: 'the seed preset without data', args: () => ['run', '--preset', 'seed', '--quiet'], message: () => 'the seed preset trains on your images: give --train <dir> with --val <dir> or --val-split <fraction>' },
  { what: 'an unknown preset', args: () => ['run', '--preset', 'nightly-x', '--quiet'], message: () => 'unknown preset "nightly-x"; presets: default, seed, backbones, recipes, heads, nightly, probe' },
  { what: 'an unknown --dataset', args: () => ['run', '--dataset', 'imagenet'], message: () => "option '--dataset <name>' argument 'imagenet' is invalid. Allowed choices are synthetic." },

  // Options.
  { what: '--lr 0', args: () => ['run', '--lr', '0'], message: () => "option '--lr <rate>' argument '0' is invalid. expected a number > 0" },
  { what: '--epochs 0', args: () => ['run', '--epochs', '0'], message: () => "option '--epochs <n>' argument '0' is invalid. expected an integer >= 1" },
  { what: '--shard 3/2', args: () => ['run', ...SMALL, '--shard', '3/2'], message: () => '--shard 3/2: expected i/n with 1 <= i <= n, e.g. --shard 2/4' },

  // merge, report, export, compare.
  {
    what: 'merge into a folder holding other results',
    args: () => ['merge', base, '--out', copyOfBase('merge-target')],
    message: (a) => `--out ${out(a)} already holds a results.json that is not among the files to merge; merge into a new folder, or name ${json(out(a))} among them to add to it`,
    keeps: out,
  },
  {
    what: 'merge of results with other settings',
    args: () => {
      const dir = copyOfBase('merge-epochs');
      const r = results(dir);
      fs.writeFileSync(json(dir), JSON.stringify({ ...r, config: { ...r.config, epochs: 5 } }));
      return ['merge', base, dir, '--out', path.join(tmp, 'never-8')];
    },
    message: (a) => `${json(a[2]!)} and ${json(base)} were run with other settings (--epochs: 1 in ${json(base)}; 5 in ${json(a[2]!)}); merge only results of the same settings`,
    keeps: out,
  },
  {
    what: 'merge of one combination with two results',
    args: () => {
      const dir = copyOfBase('merge-twice');
      const r = results(dir);
      fs.writeFileSync(json(dir), JSON.stringify({ ...r, rows: r.rows.map((row) => ({ ...row, finalValAccuracy: 0.123 })) }));
      return ['merge', base, dir, '--out', path.join(tmp, 'never-9')];
    },
    message: (a) => `combination ${results(base).rows[0]!.id} is in both ${json(base)} and ${json(a[2]!)} with different results; merge each shard once`,
    keeps: out,
  },
  { what: 'merge of a missing file', args: () => ['merge', path.join(tmp, 'nope.json'), '--out', path.join(tmp, 'never-10')], message: () => `${path.join(tmp, 'nope.json')} does not exist` },
  {
    what: 'merge --out names a file',
    args: () => ['merge', base, '--out', path.join(base, 'summary.md')],
    message: () => `cannot create folder ${path.join(base, 'summary.md')}: a file of that name exists (EEXIST); choose another folder, or move the file away`,
    keeps: () => base,
  },
  {
    what: 'report --out under a file',
    args: () => ['report', base, '--out', path.join(base, 'results.csv', 'report.html')],
    message: () => `cannot create folder ${path.join(base, 'results.csv')}: a file of that name exists (EEXIST); choose another folder, or move the file away`,
    keeps: () => base,
  },
  {
    what: 'export --out on a read-only filesystem',
    args: () => ['export', base, '--format', 'gab', '--out', path.join(tmp, 'ro', 'gab')],
    message: () => `cannot create folder ${path.join(tmp, 'ro', 'gab')}: read-only file system (EROFS); that filesystem is mounted read-only: write to a writable disk`,
    keeps: () => base,
    skip: () => readOnlySkip,
  },
  {
    what: 'compare with a file that is not JSON',
    args: () => {
      const file = path.join(tmp, 'garbage.json');
      fs.writeFileSync(file, 'garbage');
      return ['compare', base, file];
    },
    message: () => new RegExp(`^headbench: ${esc(path.join(tmp, 'garbage.json'))} is not valid JSON \\(.+\\); it is not a results file headbench wrote whole`),
  },
  {
    what: 'history add with a --time that is not a time',
    args: () => ['history', 'add', base, '--db', path.join(tmp, 'never-history-1.duckdb'), '--time', 'last night'],
    message: () => '--time "last night" is not a time; give an ISO 8601 time such as 2026-01-31T02:00:00Z',
    keeps: () => base,
  },
  {
    what: 'history add of a file that is not a results file',
    args: () => {
      const file = path.join(tmp, 'not-results.json');
      fs.writeFileSync(file, '{"benchmarks": []}');
      return ['history', 'add', file, '--db', path.join(tmp, 'never-history-2.duckdb')];
    },
    message: () => `${path.join(tmp, 'not-results.json')} is not a headbench results file (schema is undefined)`,
  },
  {
    what: 'history check --fdr out of range',
    args: () => ['history', 'check', '--fdr', '5'],
    message: () => "option '--fdr <q>' argument '5' is invalid. expected a fraction between 0 and 1, e.g. 0.2",
  },
];

function esc(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe.concurrent('bad input through the command line', () => {
  for (const c of cases) {
    const reason = () => c.skip?.();
    it(c.what, async ({ skip }) => {
      const why = reason();
      if (why) skip(`skipped: ${why}`);
      const args = c.args();
      const keep = c.keeps?.(args);
      const before = keep ? [sha(json(keep)), leftovers(keep)] : undefined;
      const r = await headbench(args, undefined, undefined, { timeoutMs: 60_000, ...c.as?.() });
      expectOneLine(r, c.status ?? 2, c.message(args), c.what);
      // Byte for byte as it was, and nothing left behind (a lock that was there stays; a folder
      // the command made for nothing is removed).
      if (keep) expect([sha(json(keep)), leftovers(keep)]).toEqual(before);
      if (args.includes('--out') && /never-\d+$/.test(out(args))) expect(fs.existsSync(out(args))).toBe(false);
    });
  }
});

describe('results only grow, with a lock per folder', () => {
  it('refuses a second run and a --resume on a folder in use, with the first run\'s pid and start; Ctrl-C removes the lock', async () => {
    const dir = path.join(tmp, 'live');
    const lock = path.join(dir, 'headbench.lock');
    let first!: import('node:child_process').ChildProcess;
    const running = headbench(['run', ...SMALL, '--images-per-class', '16', '--epochs', '3', '--seed', '1', '--seed', '2', '--seed', '3', '--seed', '4', '--seed', '5', '--out', dir], undefined, (child) => (first = child));
    for (let i = 0; i < 600 && !fs.existsSync(lock); i++) await new Promise((r) => setTimeout(r, 50));
    // Never seen empty: it is written before it is linked into place.
    const holder = JSON.parse(fs.readFileSync(lock, 'utf8')) as { pid: number; startedAt: string; hostname: string };
    expect(holder.pid).toBe(first.pid);
    const [again, resumed] = await Promise.all([
      headbench(['run', ...SMALL, '--out', dir]),
      headbench(['run', ...SMALL, '--images-per-class', '16', '--epochs', '3', '--resume', '--out', dir]),
    ]);
    const busy = `headbench: ${dir} is being written by headbench pid ${holder.pid} on ${os.hostname()}, started ${holder.startedAt} (headbench run ${[...SMALL, '--images-per-class', '16', '--epochs', '3', '--seed', '1', '--seed', '2', '--seed', '3', '--seed', '4', '--seed', '5', '--out', dir].join(' ')}); wait for it to finish, or choose another --out`;
    for (const [what, r] of [['second run', again], ['--resume', resumed]] as const) {
      table.push([`a ${what} on a folder a live run writes to`, r.status, r.errors.join(' / ')]);
      expect(r.status).toBe(2);
      expect(r.errors).toEqual([busy]);
    }
    first.kill('SIGINT');
    const stopped = await running;
    expect(stopped.status).toBe(130);
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('takes over a stale lock (its process gone) with a note', async () => {
    const dir = copyOfBase('stale');
    const gone = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => gone.on('close', r));
    fs.writeFileSync(path.join(dir, 'headbench.lock'), JSON.stringify({ pid: gone.pid, hostname: os.hostname(), startedAt: '2025-01-01T00:00:00.000Z', argv: ['run'], cwd: '/' }));
    const before = results(dir).rows;
    const r = await headbench(['run', ...SMALL, '--lr', '0.5', '--extend', '--out', dir]);
    table.push(['a stale lock (its process gone)', r.status, r.errors.join(' / ')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.errors).toEqual([`took over the lock of ${dir}: headbench pid ${gone.pid} on ${os.hostname()}, started 2025-01-01T00:00:00.000Z (headbench run) is no longer running`]);
    expect(results(dir).rows.slice(0, 4)).toEqual(before);
    expect(leftovers(dir)).toEqual([]);
  });

  it('keeps the finished rows when the disk fills during a run, exits 1, and --resume finishes once there is space', async ({ skip }) => {
    const disk = path.join(tmp, 'filling');
    const why = tryMount(disk, 'size=2m');
    if (why) skip(`skipped: ${why}`);
    const dir = path.join(disk, 'r');
    const args = ['run', ...SMALL, '--images-per-class', '8', '--head', 'gap', '--lr', '0.1', '--lr', '0.05', '--lr', '0.01', '--out', dir];
    let written = '';
    const r = await headbench(args, undefined, (child) => {
      const timer = setInterval(() => {
        if (fs.existsSync(json(dir))) {
          clearInterval(timer);
          written = fs.readFileSync(json(dir), 'utf8');
          fill(disk);
        }
      }, 10);
      child.on('close', () => clearInterval(timer));
    });
    table.push(['the disk fills during a run (tmpfs of 2 MiB)', r.status, r.errors.join(' / ')]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).not.toMatch(/^\s+at |this is a bug/m);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(
      new RegExp(
        `^headbench: cannot write ${esc(dir)}/(results\\.json|results\\.csv|summary\\.md): no space left on device \\(ENOSPC\\); free some space on that disk or write to another one; ` +
          `the 1 combination this run finished is kept in ${esc(json(dir))} \\(1 row in all\\); once that is fixed, continue with --resume --out ${esc(dir)}$`,
      ),
    );
    // Never half-written: the file is the one written after the first row.
    expect(fs.readFileSync(json(dir), 'utf8')).toBe(written);
    expect(leftovers(dir)).toEqual([]);
    fs.rmSync(path.join(disk, 'filler'));
    const resumed = await headbench([...args, '--resume']);
    expect(resumed.status, resumed.stderr).toBe(0);
    const rows = results(dir).rows;
    expect(rows.map((row) => row.lr)).toEqual([0.1, 0.05, 0.01]);
    expect(rows[0]).toEqual((JSON.parse(written) as RunResults).rows[0]);
  });
});

describe('files that do not decode', () => {
  it('are reported once each by headbench with the reason, never by TensorFlow, and counted at the end', async () => {
    const dir = imageFolder('broken', { a: 4, b: 4 });
    const good = fs.readFileSync(path.join(dir, 'a', '0.jpg'));
    // Cut in the image data, not right after a 0xff (which may start the end marker).
    let cut = Math.floor(good.length / 2);
    while (good[cut - 1] === 0xff) cut -= 1;
    const broken: Record<string, Buffer | string> = {
      'a/truncated.jpg': good.subarray(0, cut),
      'a/header-only.jpg': Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]),
      'b/zeroed.jpg': Buffer.concat([good.subarray(0, Math.floor(good.length * 0.6)), Buffer.alloc(good.length - Math.floor(good.length * 0.6))]),
      'b/page.jpg': '<!DOCTYPE html><html><body>404 Not Found</body></html>',
      'b/empty.png': '',
    };
    for (const [file, bytes] of Object.entries(broken)) fs.writeFileSync(path.join(dir, file), bytes);
    const outDir = path.join(tmp, 'broken-out');
    const args = ['run', '--train', dir, '--val', imageFolder('broken-val', { a: 2, b: 2 }), '--input-size', '32', '--epochs', '1', '--batch-size', '4', '--backbone', 'mobilenetv2:alpha=0.35,weights=none', '--no-bench', '--head', 'gap', '--lr', '0.01'];
    const [quiet, progress] = await Promise.all([headbench([...args, '--quiet', '--out', outDir]), headbench([...args, '--out', `${outDir}-2`])]);
    const where = `each is listed with the reason under "skippedFiles" in ${json(outDir)}`;
    table.push(['5 files that do not decode (truncated, header only, zeroed, a web page, empty)', quiet.status, quiet.errors.join(' / ')]);
    expect(quiet.status, quiet.stderr).toBe(0);
    // Quiet: one line at the end, and nothing from TensorFlow.
    expect(quiet.errors).toEqual([`5 files did not decode and were skipped; ${where}`]);
    const skipped = results(outDir).skippedFiles;
    expect(Object.fromEntries(skipped.map((s) => [path.relative(dir, s.file), s.reason]))).toEqual({
      'a/header-only.jpg': 'truncated: the JPEG ends after 6 bytes, in the APP0 segment at byte 2 (an interrupted download or copy?)',
      'a/truncated.jpg': `truncated: the JPEG ends after ${cut.toLocaleString('en-US')} bytes, in its image data, without the end-of-image marker (an interrupted download or copy?)`,
      'b/empty.png': 'the file is empty (0 bytes)',
      'b/page.jpg': 'not an image but text, starting "<!DOCTYPE html><html><body>404 Not Found..." (a web page saved under an image name?)',
      'b/zeroed.jpg': `truncated: the JPEG ends after ${good.length.toLocaleString('en-US')} bytes, in its image data, without the end-of-image marker (an interrupted download or copy?)`,
    });
    expect(results(outDir).rows[0]!.skippedFiles).toBe(5);
    // With progress (JSON lines, as stderr is a pipe): one note per file, then the count; every
    // line is headbench's.
    expect(progress.status, progress.stderr).toBe(0);
    const events = progress.errors.map((line) => JSON.parse(line) as { event: string; message?: string });
    const notes = events.filter((e) => e.event === 'note' && e.message?.startsWith('skipped ')).map((e) => e.message);
    expect(notes).toHaveLength(5);
    for (const s of results(`${outDir}-2`).skippedFiles) expect(notes).toContain(`skipped ${s.file}: ${s.reason}; the run goes on without it`);
    expect(events.filter((e) => e.event === 'warning').map((e) => e.message)).toEqual([`5 files did not decode and were skipped; each is listed with the reason under "skippedFiles" in ${json(`${outDir}-2`)}`]);
  });
});
