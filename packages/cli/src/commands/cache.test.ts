import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResults } from '@headbench/results';
import { FLOWERS_MINI } from '../presets.js';
import { buildCli, headbench } from '../testing/cli.js';

let tmp: string;
let images: string;
beforeAll(() => {
  buildCli();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-cache-cli-'));
  process.env['HEADBENCH_CACHE_DIR'] = path.join(tmp, 'cache');
  // Two classes of six real flower photos.
  images = path.join(tmp, 'flowers');
  for (const cls of ['daisy', 'tulips']) {
    fs.mkdirSync(path.join(images, cls), { recursive: true });
    for (const f of fs.readdirSync(path.join(FLOWERS_MINI, 'train', cls)).slice(0, 6)) fs.copyFileSync(path.join(FLOWERS_MINI, 'train', cls, f), path.join(images, cls, f));
  }
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const SMALL = ['--input-size', '32', '--epochs', '2', '--batch-size', '4', '--backbone', 'mobilenetv2:alpha=0.35,weights=none', '--head', 'gap', '--lr', '0.01', '--no-bench'];
const events = (stderr: string) =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event: string; [key: string]: unknown });
const results = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as RunResults;

describe('headbench run with the image cache', () => {
  it('decodes on the first run, reads the cache on the next, streamed or in memory with the same numbers; cache list and clear', async () => {
    const first = await headbench(['run', ...SMALL, '--train', images, '--val-split', '0.25', '--out', path.join(tmp, 'first')]);
    expect(first.status).toBe(0);
    const e1 = events(first.stderr);
    expect(e1.find((e) => e.event === 'decode-end')).toMatchObject({ folder: fs.realpathSync(images), images: 12, inputSize: 32, workers: 0 });
    expect(e1.find((e) => e.event === 'storage')).toMatchObject({ storage: 'memory', bytes: 12 * 32 * 32 * 3, budget: 2e9 });

    const second = await headbench(['run', ...SMALL, '--train', images, '--val-split', '0.25', '--memory-budget', '10kB', '--out', path.join(tmp, 'second')]);
    expect(second.status).toBe(0);
    const e2 = events(second.stderr);
    expect(e2.filter((e) => e.event.startsWith('decode'))).toEqual([]);
    expect(e2.find((e) => e.event === 'cache-hit')).toMatchObject({ images: 12, bytes: 36864 });
    expect(e2.find((e) => e.event === 'storage')).toMatchObject({ storage: 'stream', budget: 10000 });
    const history = (dir: string) => results(path.join(tmp, dir)).rows[0]!.history.map(({ seconds: _s, ...m }) => m);
    expect(history('second')).toEqual(history('first'));

    const list = await headbench(['cache', 'list']);
    expect(list.status).toBe(0);
    expect(list.stdout).toContain(`| ${fs.realpathSync(images)} | 32x32 | bilinear | 12 | 41 kB | ok |`);
    expect(list.stdout).toMatch(new RegExp(`1 cached folder, 41 kB in ${path.join(tmp, 'cache', 'images')}\\n$`));
    const other = await headbench(['cache', 'clear', path.join(tmp, 'elsewhere')]);
    expect(other.stdout).toBe(`no cached images of ${path.join(tmp, 'elsewhere')} in ${path.join(tmp, 'cache', 'images')}\n`);
    const clear = await headbench(['cache', 'clear', path.relative(process.cwd(), images)]);
    expect(clear.status).toBe(0);
    expect(clear.stdout).toBe(`removed ${fs.realpathSync(images)} at 32x32 (41 kB)\nfreed 41 kB in ${path.join(tmp, 'cache', 'images')}\n`);
    expect((await headbench(['cache', 'list'])).stdout).toBe(`the image cache ${path.join(tmp, 'cache', 'images')} is empty\n`);
  });

  it('refuses a memory budget that is not a size, in one line', async () => {
    const r = await headbench(['run', ...SMALL, '--train', images, '--val-split', '0.25', '--memory-budget', 'lots', '--out', path.join(tmp, 'never')]);
    expect(r.status).toBe(2);
    expect(r.errors).toEqual(['headbench: --memory-budget "lots" is not a size; write it like 2GB, 512MB or 1.5GiB']);
  });

  const root = process.getuid?.() === 0;
  it.skipIf(!root)('a cache folder without room: one line, exit 2, nothing half-written (a 1 MB tmpfs; skipped unless root)', async () => {
    const mount = path.join(tmp, 'small-disk');
    fs.mkdirSync(mount);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mount]).status).toBe(0);
    const cacheDir = process.env['HEADBENCH_CACHE_DIR'];
    process.env['HEADBENCH_CACHE_DIR'] = mount;
    try {
      const r = await headbench(['run', ...SMALL, '--input-size', '192', '--train', images, '--val-split', '0.25', '--out', path.join(tmp, 'never'), '--quiet']);
      expect(r.status).toBe(2);
      expect(r.errors).toEqual([
        `headbench: the image cache needs 1.3 MB in ${mount}/images (12 images at 192x192) and 1.0 MB are free; free space there, clear old caches (headbench cache clear) or set HEADBENCH_CACHE_DIR to a disk with room`,
      ]);
      expect(fs.readdirSync(path.join(mount, 'images'))).toEqual([]);
      expect(fs.existsSync(path.join(tmp, 'never'))).toBe(false);
    } finally {
      process.env['HEADBENCH_CACHE_DIR'] = cacheDir;
      spawnSync('umount', [mount]);
    }
  });
});

describe('headbench run with the feature cache', () => {
  // A frozen ImageNet MobileNetV2 on the twelve real flower photos.
  const FROZEN = ['--input-size', '64', '--epochs', '2', '--batch-size', '4', '--backbone', 'mobilenetv2:alpha=0.35,trainable=false', '--head', 'gap', '--head', 'flatten', '--lr', '0.01', '--no-bench'];

  it('computes a frozen backbone\'s features once, reads them on later runs with the numbers of --no-feature-cache, recomputes them when the folder changed; cache list and clear', async () => {
    const folder = path.join(tmp, 'frozen');
    fs.cpSync(images, folder, { recursive: true });
    const real = fs.realpathSync(folder);
    const run = (out: string, ...extra: string[]) => headbench(['run', ...FROZEN, '--train', folder, '--val-split', '0.25', '--out', path.join(tmp, out), ...extra]);
    const first = await run('features-1');
    expect(first.status).toBe(0);
    const e1 = events(first.stderr);
    // One folder, computed once for both heads.
    expect(e1.filter((e) => e.event === 'features-end')).toMatchObject([{ folder: real, images: 12, bytes: 12 * 2 * 2 * 1280 * 4 }]);
    expect(results(path.join(tmp, 'features-1')).rows.map((r) => [r.head, r.path?.path, r.path?.features?.computed])).toEqual([
      ['gap', 'features', true],
      ['flatten', 'features', false],
    ]);

    const second = await run('features-2');
    const e2 = events(second.stderr);
    expect(e2.filter((e) => e.event === 'features-start')).toEqual([]);
    expect(e2.filter((e) => e.event === 'features-hit')).toMatchObject([{ folder: real, images: 12 }]);

    // Over the memory budget the features are streamed from the cache file, with the same numbers.
    const streamed = await run('features-stream', '--memory-budget', '10kB');
    expect(streamed.status).toBe(0);
    expect(results(path.join(tmp, 'features-stream')).rows.map((r) => r.path?.features?.storage)).toEqual(['stream', 'stream']);

    const full = await run('images', '--no-feature-cache');
    expect(events(full.stderr).filter((e) => e.event.startsWith('features'))).toEqual([]);
    const rows = (dir: string) => results(path.join(tmp, dir)).rows;
    expect(rows('images').map((r) => r.path)).toEqual([
      { path: 'images', reason: 'the feature cache is off (--no-feature-cache)' },
      { path: 'images', reason: 'the feature cache is off (--no-feature-cache)' },
    ]);
    for (const dir of ['features-1', 'features-2', 'features-stream']) {
      rows(dir).forEach((row, i) => {
        const other = rows('images')[i]!;
        expect(row.history.map((h) => h.valAccuracy)).toEqual(other.history.map((h) => h.valAccuracy));
        row.history.forEach((h, e) => expect(h.valLoss).toBeCloseTo(other.history[e]!.valLoss, 3));
        expect(row.perImage).toEqual(other.perImage);
      });
    }

    const list = await headbench(['cache', 'list']);
    expect(list.stdout).toMatch(new RegExp(`\\| ${real} \\| mobilenetv2:alpha=0\\.35,[^|]*trainable=false[^|]* \\(weights [0-9a-f]{12}\\) \\| 64x64 \\| 12 \\| \\d+ kB \\| ok \\|`));
    expect(list.stdout).toContain('1 feature cache entry');

    // A changed folder: its images are decoded again, and so the features are computed again.
    const daisy = path.join(folder, 'daisy');
    fs.copyFileSync(path.join(FLOWERS_MINI, 'train', 'daisy', fs.readdirSync(path.join(FLOWERS_MINI, 'train', 'daisy'))[6]!), path.join(daisy, 'added.jpg'));
    const changed = await run('features-3');
    expect(changed.status).toBe(0);
    expect(events(changed.stderr).filter((e) => e.event === 'features-end')).toMatchObject([{ images: 13, rebuilt: 'its images were decoded again since (the image folder changed)' }]);

    const clear = await headbench(['cache', 'clear', folder]);
    expect(clear.stdout).toMatch(new RegExp(`removed the features of ${real} at 64x64 through mobilenetv2:alpha=0\\.35`));
    expect((await headbench(['cache', 'list'])).stdout).not.toContain(real);
  });
});
