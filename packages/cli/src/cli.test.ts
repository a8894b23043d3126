import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, cliDir, headbench, packagesDir, type Result } from './testing/cli.js';

interface Row { alpha: number; size: number; head: string; classes: number; headParams: number; total: number; trainable: number; nonTrainable: number; frozen: { total: number; trainable: number; nonTrainable: number } }
const keras = JSON.parse(readFileSync(path.join(packagesDir, 'backbones/fixtures/keras/params.json'), 'utf8')) as { heads: Row[] };

let tmp: string;

beforeAll(() => {
  buildCli();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'headbench-cli-'));
  // A project of a user's: its node_modules hold headbench and a plugin package.
  mkdirSync(path.join(tmp, 'node_modules/@headbench'), { recursive: true });
  for (const p of ['core', 'cli']) symlinkSync(path.join(packagesDir, p), path.join(tmp, 'node_modules/@headbench', p), 'dir');
  const plugin = path.join(tmp, 'node_modules/headbench-plugin-mean');
  mkdirSync(plugin);
  writeFileSync(path.join(plugin, 'package.json'), JSON.stringify({ name: 'headbench-plugin-mean', version: '1.2.3', type: 'module', main: 'index.js' }));
  writeFileSync(path.join(plugin, 'index.js'), [
    "import { defineHead, tf } from '@headbench/core';",
    'export default defineHead({',
    "  meta: { name: 'mean', version: '1.2.3' },",
    "  schema: { units: { type: 'number', default: 4, integer: true, min: 1, description: 'hidden units' } },",
    '  build: (features, { classes }, { units }) => {',
    '    const pooled = tf.layers.globalAveragePooling2d({}).apply(features);',
    '    const hidden = tf.layers.dense({ units }).apply(pooled);',
    '    return tf.layers.dense({ units: classes }).apply(hidden);',
    '  },',
    '});',
  ].join('\n'));
  const modules: Record<string, string> = {
    'not-a-plugin.mjs': 'export default { hello: 1, world: 2 };',
    'no-default.mjs': 'export const gap = 1;',
    'trainer.mjs': "export default () => ({ meta: { name: 'sgd', version: '1.0.0', kind: 'trainer' } });",
    'throws.mjs': "throw new TypeError('cannot read config of undefined');",
    'broken-head.mjs': "export default () => ({ meta: { name: 'broken', version: '0.0.1', kind: 'head' }, schema: {}, options: {}, build() { throw new Error('kaboom'); } });",
  };
  for (const [file, text] of Object.entries(modules)) writeFileSync(path.join(tmp, file), text);
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const fixture = (alpha: number, size: number, head: string, classes: number) => {
  const row = keras.heads.find((r) => r.alpha === alpha && r.size === size && r.head === head && r.classes === classes);
  if (!row) throw new Error(`params.json has no row for ${alpha} ${size} ${head} ${classes}`);
  return row;
};

describe('headbench params', () => {
  it('prints json counts equal to Keras for mobilenetv2 alpha 0.5 at 128 with gap and flatten', async () => {
    const r = await headbench(['params', '--backbone', 'mobilenetv2:alpha=0.5', '--backbone', 'mobilenetv2:alpha=0.5,trainable=false', '--input-size', '128', '--classes', '10', '--head', 'gap', '--head', 'flatten', '--format', 'json']);
    expect(r.errors).toEqual([]);
    expect(r.status).toBe(0);
    const expected = ['gap', 'flatten'].map((head) => fixture(0.5, 128, head, 10));
    expect(JSON.parse(r.stdout)).toEqual([
      ...expected.map((k) => ({
        backbone: 'mobilenetv2:alpha=0.5', head: k.head, inputSize: 128, classes: 10, featureShape: [4, 4, 1280],
        params: { total: k.total, trainable: k.trainable, nonTrainable: k.nonTrainable, head: k.headParams },
      })),
      ...expected.map((k) => ({
        backbone: 'mobilenetv2:alpha=0.5,trainable=false', head: k.head, inputSize: 128, classes: 10, featureShape: [4, 4, 1280],
        params: { ...k.frozen, head: k.headParams },
      })),
    ]);
  });

  it('prints a Markdown table with thousands separators, and csv', async () => {
    const args = ['params', '--backbone', 'mobilenetv2:alpha=0.35', '--input-size', '224', '--classes', '5', '--head', 'gap', '--head', 'flatten'];
    const [md, csv] = await Promise.all([headbench(args), headbench([...args, '--backbone', 'mobilenetv2:alpha=0.35,trainable=false', '--format', 'csv'])]);
    expect(md.status).toBe(0);
    const lines = md.stdout.trimEnd().split('\n');
    const cells = (line?: string) => line?.split('|').map((c) => c.trim());
    expect(lines).toHaveLength(4);
    expect(cells(lines[0])).toEqual(['', 'backbone', 'head', 'input', 'classes', 'features', 'total', 'trainable', 'non-trainable', 'head params', '']);
    expect(lines[1]).toMatch(/^\|-+\|-+\|-+:\|-+:\|-+\|-+:\|-+:\|-+:\|-+:\|$/);
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
    const [gap, flat] = [fixture(0.35, 224, 'gap', 5), fixture(0.35, 224, 'flatten', 5)];
    const n = (v: number) => v.toLocaleString('en-US');
    expect(cells(lines[2])).toEqual(['', 'mobilenetv2:alpha=0.35', 'gap', '224', '5', '7x7x1280', n(gap.total), n(gap.trainable), n(gap.nonTrainable), n(gap.headParams), '']);
    expect(cells(lines[3])).toEqual(['', 'mobilenetv2:alpha=0.35', 'flatten', '224', '5', '7x7x1280', '723,813', '709,733', '14,080', '313,605', '']);
    expect(flat).toMatchObject({ total: 723_813, trainable: 709_733, nonTrainable: 14_080, headParams: 313_605 });

    expect(csv.stdout.trimEnd().split('\n')).toEqual([
      'backbone,head,inputSize,classes,featureShape,total,trainable,nonTrainable,headParams',
      `mobilenetv2:alpha=0.35,gap,224,5,7x7x1280,${gap.total},${gap.trainable},${gap.nonTrainable},${gap.headParams}`,
      `mobilenetv2:alpha=0.35,flatten,224,5,7x7x1280,${flat.total},${flat.trainable},${flat.nonTrainable},${flat.headParams}`,
      `"mobilenetv2:alpha=0.35,trainable=false",gap,224,5,7x7x1280,${gap.frozen.total},${gap.frozen.trainable},${gap.frozen.nonTrainable},${gap.headParams}`,
      `"mobilenetv2:alpha=0.35,trainable=false",flatten,224,5,7x7x1280,${flat.frozen.total},${flat.frozen.trainable},${flat.frozen.nonTrainable},${flat.headParams}`,
    ]);
  });

  it('takes its defaults from headbench.config.mjs, and flags override them', async () => {
    const project = mkdtempSync(path.join(tmp, 'project-'));
    symlinkSync(path.join(tmp, 'node_modules'), path.join(project, 'node_modules'), 'dir');
    writeFileSync(path.join(project, 'headbench.config.mjs'), [
      "import { defineConfig } from '@headbench/cli';",
      "import mean from 'headbench-plugin-mean';",
      "export default defineConfig({ plugins: [mean], backbones: ['mobilenetv2:alpha=0.35'], heads: ['mean:units=8', 'gap'], inputSize: 96, classes: 5 });",
    ].join('\n'));
    writeFileSync(path.join(project, 'typo.mjs'), "export default { head: ['gap'] };");
    const [fromConfig, overridden, typo] = await Promise.all([
      headbench(['params', '--format', 'json'], project),
      headbench(['params', '--format', 'json', '--head', 'flatten', '--classes', '10'], project),
      headbench(['params', '--config', 'typo.mjs'], project),
    ]);
    type Out = { backbone: string; head: string; inputSize: number; classes: number; params: { head: number } }[];
    const summary = (r: Result) => (JSON.parse(r.stdout) as Out).map((row) => [row.backbone, row.head, row.inputSize, row.classes, row.params.head]);
    expect(fromConfig.errors).toEqual([]);
    expect(summary(fromConfig)).toEqual([
      ['mobilenetv2:alpha=0.35', 'mean:units=8', 96, 5, 1280 * 8 + 8 + 8 * 5 + 5],
      ['mobilenetv2:alpha=0.35', 'gap', 96, 5, fixture(0.35, 96, 'gap', 5).headParams],
    ]);
    expect(summary(overridden)).toEqual([['mobilenetv2:alpha=0.35', 'flatten', 96, 10, fixture(0.35, 96, 'flatten', 10).headParams]]);
    expect(typo).toMatchObject({
      status: 2,
      errors: ['headbench: typo.mjs: unknown key "head"; known keys: plugins, backbones, heads, trainers, lr, seeds, inputSize, classes, preset, train, val, valSplit, test, testSplit, baseline, epochs, batchSize, momentum'],
    });
  });

  it('prints the built-in heads of issue 22 with the counts of their formulas', async () => {
    // MobileNetV2 alpha 0.35 at 96x96: a 3x3 map of C = 1280 channels; K = 5 classes. Each
    // formula as its README writes it, with the default options.
    const [h, w, c, k] = [3, 3, 1280, 5];
    const expected: Record<string, number> = {
      avgmax: 2 * c * k + k,
      mlp: c * 256 + 256 + 4 * 256 + 256 * k + k,
      gdconv: h * w * c + 4 * c + c * k + k,
      se: (2 * c * c) / 16 + c / 16 + c + c * k + k,
      gem: c * k + k + 1,
      lse: c * k + k,
      attention: (h * w + 1) * c + 3 * (c * c + c) + c * k + k,
      bilinear: c * 64 + 64 + 64 * 64 * k + k,
    };
    const r = await headbench(['params', '--backbone', 'mobilenetv2:alpha=0.35', '--input-size', '96', '--classes', '5', ...Object.keys(expected).flatMap((head) => ['--head', head]), '--format', 'json']);
    expect(r.errors).toEqual([]);
    const rows = JSON.parse(r.stdout) as { head: string; params: { head: number } }[];
    expect(Object.fromEntries(rows.map((row) => [row.head, row.params.head]))).toEqual(expected);
  });
});

describe('headbench errors', () => {
  it('reports command-line mistakes in one line with exit code 2, before loading TensorFlow', async () => {
    const cases = [
      [['params', '--hed', 'gap'], "headbench: unknown option '--hed' (Did you mean --head?)"],
      [['params', '--classes', 'ten'], "headbench: option '--classes <n>' argument 'ten' is invalid. expected an integer >= 2"],
      [['params', '--format', 'xml'], "headbench: option '--format <format>' argument 'xml' is invalid. Allowed choices are md, csv, json."],
      [['parms'], "headbench: unknown command 'parms' (Did you mean params?)"],
    ] as const;
    const results = await Promise.all(cases.map(([args]) => headbench(args)));
    // Raw stderr: nothing else was printed, not even TensorFlow's notices.
    expect(results.map((r) => [r.status, r.stderr])).toEqual(cases.map(([, message]) => [2, `${message}\n`]));
  });

  it('names the known heads for an unknown one', async () => {
    const r = await headbench(['params', '--classes', '5', '--head', 'gap', '--head', 'transformer']);
    expect(r).toMatchObject({ status: 2, stdout: '' });
    expect(r.errors).toEqual(['headbench: unknown head "transformer"; known heads: attention, avgmax, bilinear, flatten, gap, gdconv, gem, gmp, lse, mlp, se (load others with --plugin <package> or a headbench.config.js)']);
  });

  it('reports bad backbone options in one line', async () => {
    const cases = [
      ['mobilenetv2:alpha=0.6', 'mobilenetv2: option alpha=0.6 is not supported; expected one of 0.35, 0.5, 0.75, 1, 1.3, 1.4'],
      ['mobilenetv2:alfa=1', 'mobilenetv2: unknown option "alfa"; known options: alpha, weights, trainable'],
      ['mobilenetv2:alpha=abc', 'mobilenetv2: option alpha=abc is not a number; expected one of 0.35, 0.5, 0.75, 1, 1.3, 1.4'],
      ['mobilenetv2:alpha', '"mobilenetv2:alpha": "alpha" is not key=value; write mobilenetv2:key=value,key=value'],
    ] as const;
    const results = await Promise.all(cases.map(([spec]) => headbench(['params', '--classes', '5', '--backbone', spec])));
    expect(results.map((r) => [r.status, r.errors.length, r.stdout])).toEqual(cases.map(() => [2, 1, '']));
    results.forEach((r, i) => expect(r.errors[0]).toContain(`headbench: ${cases[i]?.[1]}`));
  });

  it('asks for --classes when neither the flags nor a config give it', async () => {
    expect(await headbench(['params'], tmp)).toMatchObject({ status: 2, errors: ['headbench: give the number of classes: --classes <n> (or classes in a headbench.config.js)'] });
  });
});

describe('headbench --plugin', () => {
  const params = (...args: string[]) => headbench(['params', '--backbone', 'mobilenetv2:alpha=0.35', '--input-size', '32', '--classes', '5', ...args], tmp);

  it('loads a plugin package and uses its head', async () => {
    const r = await params('--plugin', 'headbench-plugin-mean', '--head', 'mean:units=3', '--format', 'json');
    expect(r.errors).toEqual([]);
    expect((JSON.parse(r.stdout) as { head: string; params: { head: number } }[]).map((row) => [row.head, row.params.head])).toEqual([['mean:units=3', 1280 * 3 + 3 + 3 * 5 + 5]]);
  });

  it('says what it found when a module is not a plugin', async () => {
    const cases = [
      ['./not-a-plugin.mjs', '--plugin ./not-a-plugin.mjs is not a plugin factory: expected a function returning a plugin, found an object with keys hello, world'],
      ['./no-default.mjs', 'plugin module "./no-default.mjs" has no default export; found exports gap; export the plugin factory as default'],
      ['./trainer.mjs', '--plugin ./trainer.mjs is not a headbench plugin: its factory returned trainer plugin "sgd" without recipe'],
      ['./throws.mjs', '--plugin ./throws.mjs: loading it failed: cannot read config of undefined'],
      ['headbench-plugin-nope', 'cannot find plugin module "headbench-plugin-nope" from '],
      ['./nope.mjs', `--plugin ./nope.mjs: no such file (${path.join(tmp, 'nope.mjs')})`],
    ] as const;
    const results = await Promise.all(cases.map(([plugin]) => params('--plugin', plugin, '--head', 'gap')));
    expect(results.map((r) => [r.status, r.errors.length])).toEqual(cases.map(() => [2, 1]));
    results.forEach((r, i) => expect(r.errors[0]).toContain(`headbench: ${cases[i]?.[1]}`));
  });

  it('says so when a plugin is of the wrong kind for where it is named', async () => {
    const r = await params('--plugin', 'headbench-plugin-mean', '--backbone', 'mean', '--head', 'gap');
    expect(r).toMatchObject({ status: 2, errors: ['headbench: "mean" is a head plugin (from --plugin headbench-plugin-mean), not a backbone; known backbones: efficientnetb0, mobilenetv2, mobilenetv3large, mobilenetv3small, resnet50, resnet50v2'] });
  });

  it('calls other failures bugs, with exit code 1, and shows the stack with --verbose', async () => {
    const [r, verbose] = await Promise.all([
      params('--plugin', './broken-head.mjs', '--head', 'broken'),
      params('--plugin', './broken-head.mjs', '--head', 'broken', '--verbose'),
    ]);
    expect(r).toMatchObject({ status: 1, errors: ['headbench: kaboom', '(this is a bug, please report it with --verbose output)'] });
    expect(verbose.status).toBe(1);
    expect(verbose.errors.join('\n')).toMatch(/^headbench: kaboom\nError: kaboom\n\s+at Object\.build \(.*broken-head\.mjs.*\n(.*\n)*\(this is a bug, please report it with --verbose output\)$/);
  });
});

describe('bin/headbench.js', () => {
  it('asks for a build when dist is missing', () => {
    const copy = mkdtempSync(path.join(tmp, 'unbuilt-'));
    cpSync(path.join(cliDir, 'bin'), path.join(copy, 'bin'), { recursive: true });
    const r = spawnSync(process.execPath, [path.join(copy, 'bin', 'headbench.js'), 'params'], { encoding: 'utf8' });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 1, stderr: 'headbench: the command is not built; run npm install (or npm run build) first\n' });
  });
});

describe('--help', () => {
  /** Each option of a help text with its description, wrapped lines joined. */
  const optionsOf = (help: string) =>
    help
      .split(/\n(?= {2}-)/)
      .slice(1)
      .map((block) => block.trim().replace(/\s+/g, ' '));
  const commandsOf = (help: string) =>
    (help.split('\nCommands:\n')[1] ?? '')
      .split('\n')
      .map((l) => /^ {2}(\S+)/.exec(l)?.[1])
      .filter((c): c is string => c !== undefined && c !== 'help');

  it('says each default once, in every command and subcommand', async () => {
    const top = await headbench(['--help']);
    expect(top.status).toBe(0);
    const commands = commandsOf(top.stdout);
    expect(commands).toEqual(expect.arrayContaining(['run', 'params', 'bench', 'report', 'compare', 'merge', 'export', 'cache']));
    const helps: [string, string][] = [['headbench', top.stdout]];
    for (const command of commands) {
      const r = await headbench([command, '--help']);
      expect(r.status, command).toBe(0);
      helps.push([command, r.stdout]);
      for (const sub of commandsOf(r.stdout)) helps.push([`${command} ${sub}`, (await headbench([command, sub, '--help'])).stdout]);
    }
    expect(helps.map(([name]) => name)).toEqual(expect.arrayContaining(['cache list', 'cache clear']));
    const twice = helps.flatMap(([name, help]) => optionsOf(help).filter((o) => (o.match(/default:/g) ?? []).length > 1).map((o) => `${name}: ${o}`));
    expect(twice).toEqual([]);
    const bench = helps.find(([name]) => name === 'bench')![1];
    expect(optionsOf(bench).find((o) => o.startsWith('--batch-size'))).toBe('--batch-size <n> images per training step and per inference call (default: 32)');
  });
});
