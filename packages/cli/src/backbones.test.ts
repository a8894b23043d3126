import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, headbench, packagesDir } from './testing/cli.js';

// The new backbones from the command line: `params` prints Keras' numbers (from Keras' own
// fixture, tools/keras-reference/make_backbone_fixtures.py), and the `backbones` preset says
// which ImageNet files it needs, in one line, before it trains anything.

interface Row {
  variant: string;
  size: number;
  weights: string;
  output: number[];
  heads: Record<string, { total: number; trainable: number; nonTrainable: number }>;
}
const keras = JSON.parse(readFileSync(path.join(packagesDir, 'backbones', 'fixtures', 'keras', 'backbones.json'), 'utf8')) as { rows: Row[] };
const tmp = mkdtempSync(path.join(os.tmpdir(), 'headbench-backbones-cli-'));
beforeAll(() => buildCli(), 300_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const fmt = (n: number) => n.toLocaleString('en-US');

describe('headbench params on the new backbones', () => {
  it("prints Keras' feature shapes and counts for GAP and Flatten with 5 classes", async () => {
    const backbones = ['mobilenetv3small', 'efficientnetb0', 'resnet50'];
    const result = await headbench(['params', ...backbones.flatMap((b) => ['--backbone', b]), '--head', 'gap', '--head', 'flatten', '--classes', '5']);
    expect(result.errors).toEqual([]);
    expect(result.status).toBe(0);
    const lines = result.stdout.trim().split('\n');
    for (const variant of backbones) {
      const row = keras.rows.find((r) => r.variant === variant && r.size === 224 && r.weights === 'none')!;
      for (const head of ['gap', 'flatten']) {
        const { total, trainable, nonTrainable } = row.heads[head]!;
        const line = lines.find((l) => l.startsWith(`| ${variant} `) && l.includes(` ${head} `));
        expect(line, `${variant} ${head}`).toBeDefined();
        const cells = line!.split('|').map((c) => c.trim());
        expect(cells.slice(5, 9), `${variant} ${head}`).toEqual([row.output.join('x'), fmt(total), fmt(trainable), fmt(nonTrainable)]);
      }
    }
  }, 120_000);
});

describe('the backbones preset', () => {
  it('stops before training with one line naming every missing ImageNet file and where it goes', async () => {
    // A port that was just free, so a download attempt is refused at once.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
    const saved = { ...process.env };
    Object.assign(process.env, { HOME: tmp, HEADBENCH_WEIGHTS_DIR: tmp, HEADBENCH_WEIGHTS_URL: `http://127.0.0.1:${port}/` });
    delete process.env['KERAS_HOME'];
    let result;
    try {
      result = await headbench(['run', '--preset', 'backbones', '--out', path.join(tmp, 'out')], tmp);
    } finally {
      process.env = saved;
    }
    expect(result.status).toBe(2);
    expect(result.errors).toHaveLength(1);
    const line = result.errors[0]!;
    expect(line).toMatch(/^headbench: ImageNet weights missing for 5 of 5 backbones: put Keras' files into /);
    expect(line).toContain(`into ${tmp} or ${path.join(tmp, '.keras', 'models')} (HEADBENCH_WEIGHTS_DIR adds a folder), or use weights=none`);
    for (const file of [
      'https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5',
      'https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5',
      'https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5',
      'https://storage.googleapis.com/tensorflow/keras-applications/resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5',
      'https://storage.googleapis.com/tensorflow/keras-applications/resnet/resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5',
    ]) {
      expect(line).toContain(`${path.basename(file)} for `);
      expect(line).toContain(`from ${file} (download failed: fetch failed`);
    }
    expect(result.stdout).toBe('');
  }, 120_000);
});
