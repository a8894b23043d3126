import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { logger, readJson, type Tree } from '@nx/devkit';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { checkHeadConformance } from '@headbench/testing';
import headGeneratorDefault, { headGenerator } from './generator.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** A virtual workspace with what the generator reads: core's and the kit's package.json and the root tsconfig. */
function workspace(): Tree {
  const tree = createTreeWithEmptyWorkspace({ formatter: 'none' });
  for (const file of ['packages/core/package.json', 'packages/testing/package.json', 'tsconfig.json', 'packages/heads-gap/package.json']) tree.write(file, read(file));
  return tree;
}

function generatedFiles(tree: Tree, root: string): string[] {
  const walk = (dir: string): string[] => tree.children(dir).flatMap((c) => (tree.isFile(`${dir}/${c}`) ? [`${dir}/${c}`] : walk(`${dir}/${c}`)));
  return walk(root).map((f) => f.slice(root.length + 1)).sort();
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-head-generator-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('the head generator', () => {
  it('is what tools/generators.json declares as head, with the schema nx validates the name with', () => {
    expect(headGeneratorDefault).toBe(headGenerator);
    const collection = JSON.parse(read('tools/generators.json')) as { generators: Record<string, { factory: string; schema: string }> };
    expect(JSON.parse(read('tools/package.json'))).toMatchObject({ generators: './generators.json' });
    expect(collection.generators['head']).toMatchObject({ factory: './generators/head/generator', schema: './generators/head/schema.json' });
    const schema = JSON.parse(read('tools/generators/head/schema.json')) as { required: string[]; properties: { name: { pattern: string; $default: unknown } } };
    expect(schema.required).toEqual(['name']);
    expect(schema.properties.name).toMatchObject({ pattern: '^[a-z][a-z0-9-]*$', $default: { $source: 'argv', index: 0 } });
  });

  it('creates packages/heads-<name> laid out like heads-gap, and adds it to the root tsconfig', async () => {
    const tree = workspace();
    await headGenerator(tree, { name: 'attention-pool' });
    const root = 'packages/heads-attention-pool';
    expect(generatedFiles(tree, root)).toEqual(['README.md', 'package.json', 'src/index.test.ts', 'src/index.ts', 'tsconfig.json', 'tsconfig.spec.json', 'vitest.config.ts']);

    const pkg = readJson(tree, `${root}/package.json`);
    const gap = JSON.parse(read('packages/heads-gap/package.json'));
    expect(pkg).toEqual({
      ...gap,
      name: '@headbench/heads-attention-pool',
      version: '0.1.0',
      description: 'GlobalAveragePooling2D + Dense(classes), logits',
    });
    expect(pkg).toMatchObject({ type: 'module', files: ['dist'], sideEffects: false, peerDependencies: { '@headbench/core': '0.1.0' }, devDependencies: { '@headbench/core': '0.1.0', '@headbench/testing': '0.1.0' } });
    for (const file of ['tsconfig.json', 'tsconfig.spec.json', 'vitest.config.ts']) expect(tree.read(`${root}/${file}`, 'utf8')).toBe(read(`packages/heads-gap/${file}`));

    const source = tree.read(`${root}/src/index.ts`, 'utf8');
    expect(source).toContain("meta: { name: 'attention-pool', version, description: 'GlobalAveragePooling2D + Dense(classes), logits' }");
    expect(source).toContain('export function attentionPool(options?: Parameters<typeof make>[0]): HeadPlugin {');
    expect(source).toContain('export default attentionPool;');
    expect(tree.read(`${root}/src/index.test.ts`, 'utf8')).toContain("import { describeHeadConformance } from '@headbench/testing';\nimport attentionPool from './index.js';");
    expect(tree.read(`${root}/README.md`, 'utf8')).toMatch(/^# @headbench\/heads-attention-pool\n/);

    const references = (readJson(tree, 'tsconfig.json') as { references: { path: string }[] }).references.map((r) => r.path);
    const before = (JSON.parse(read('tsconfig.json')) as { references: { path: string }[] }).references.map((r) => r.path);
    const lastHead = before.findLastIndex((p) => p.startsWith('./packages/heads-'));
    expect(references).toEqual([...before.slice(0, lastHead + 1), './packages/heads-attention-pool', ...before.slice(lastHead + 1)]);
  });

  it('escapes the description for TypeScript and JSON, and avoids identifiers that would not compile', async () => {
    const tree = workspace();
    await headGenerator(tree, { name: 'new', description: `max-pool "plus" it's C:\\dense` });
    const source = tree.read('packages/heads-new/src/index.ts', 'utf8');
    expect(source).toContain(`description: 'max-pool "plus" it\\'s C:\\\\dense' }`);
    expect(source).toContain('export function newHead(');
    expect(readJson(tree, 'packages/heads-new/package.json').description).toBe(`max-pool "plus" it's C:\\dense`);
  });

  it('refuses names users could not type and packages that exist', async () => {
    for (const name of ['Gap', '1x1', 'my_head', '', 'a b']) {
      await expect(headGenerator(workspace(), { name })).rejects.toThrow(`head name "${name.trim()}" is not allowed: use lowercase letters, digits and dashes, starting with a letter`);
    }
    const tree = workspace();
    await headGenerator(tree, { name: 'twice' });
    await expect(headGenerator(tree, { name: 'twice' })).rejects.toThrow('packages/heads-twice already exists; pick another name or edit that package');
    await expect(headGenerator(workspace(), { name: 'x', description: 'two\nlines' })).rejects.toThrow('the description is one line');
  });

  it('prints the next steps once the files are written', async () => {
    const info = vi.spyOn(logger, 'info').mockImplementation(() => {});
    const done = await headGenerator(workspace(), { name: 'mlp' });
    expect(info).not.toHaveBeenCalled();
    await done();
    const printed = info.mock.calls.map((c) => String(c[0])).join('\n');
    expect(printed).toContain('Created packages/heads-mlp (@headbench/heads-mlp). Next, from the repository root:');
    expect(printed).toMatch(/npm install +links @headbench\/heads-mlp into the workspace/);
    expect(printed).toContain('npx nx test @headbench/heads-mlp');
    expect(printed).toContain('--plugin @headbench/heads-mlp --head mlp');
    info.mockRestore();
  });

  it('generates a head that type-checks and passes the conformance kit, with and without its option', async () => {
    const tree = workspace();
    await headGenerator(tree, { name: 'kit-probe' });
    // The generated package on disk in a copy of the layout it expects (../../tsconfig.base.json),
    // resolving @headbench/core through the workspace's node_modules.
    const dir = path.join(tmp, 'packages', 'heads-kit-probe');
    for (const file of generatedFiles(tree, 'packages/heads-kit-probe')) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), tree.read(`packages/heads-kit-probe/${file}`) as Buffer);
    }
    for (const file of ['tsconfig.base.json', 'vitest.shared.ts']) fs.copyFileSync(path.join(ROOT, file), path.join(tmp, file));
    fs.writeFileSync(path.join(tmp, 'package.json'), JSON.stringify({ private: true, type: 'module' }));
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(tmp, 'node_modules'), 'dir');
    // tsconfig.json references ../core, which vite's transform follows.
    fs.symlinkSync(path.join(ROOT, 'packages', 'core'), path.join(tmp, 'packages', 'core'), 'dir');

    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    try {
      execFileSync(process.execPath, [tsc, '-p', path.join(dir, 'tsconfig.spec.json')], { stdio: 'pipe', encoding: 'utf8' });
    } catch (error) {
      throw new Error(`the generated package does not type-check:\n${(error as { stdout?: string }).stdout ?? String(error)}`);
    }

    const { default: factory } = (await import(pathToFileURL(path.join(dir, 'src', 'index.ts')).href)) as { default: Parameters<typeof checkHeadConformance>[0] };
    await checkHeadConformance(factory);
    await checkHeadConformance(factory, { options: { hidden: 8 } });
  });
});
