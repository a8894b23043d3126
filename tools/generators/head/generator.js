// Plain JavaScript (type-checked through JSDoc, tools/tsconfig.json has checkJs): nx 24 loads a
// TypeScript generator only through @swc-node/register or ts-node, or Node's own type stripping
// (Node 22.6+); on Node 20 without them it fails with "Unexpected token". A .js module loads as is.
import { fileURLToPath, URL } from 'node:url';
import { formatFiles, generateFiles, logger, names, readJson, updateJson } from '@nx/devkit';

/**
 * @typedef {object} HeadGeneratorOptions
 * @property {string} name The head's name as users select it (`--head <name>`).
 * @property {string} [description] One line on what the head is.
 */

const FILES = fileURLToPath(new URL('./files', import.meta.url));

/** The rule the conformance kit holds meta.name to; users type the name. */
export const HEAD_NAME = /^[a-z][a-z0-9-]*$/;

export const DEFAULT_DESCRIPTION = 'GlobalAveragePooling2D + Dense(classes), logits';

// The factory is exported under the head's name in camelCase; these would not compile or would
// shadow what the template imports, so they get a `Head` suffix.
const RESERVED = new Set(
  'break case catch class const continue createRequire debugger default defineHead delete do else enum export extends false finally for function HeadPlugin if import in instanceof let make new null return static super switch tf this throw true try typeof UsageError var version void while with yield'.split(' '),
);

/**
 * `nx g @headbench/tools:head <name>`: packages/heads-<name>, a head plugin package laid out like
 * heads-gap, whose head (GlobalAveragePooling2D + Dense) already passes the conformance kit.
 *
 * @param {import('@nx/devkit').Tree} tree
 * @param {HeadGeneratorOptions} options
 * @returns {Promise<import('@nx/devkit').GeneratorCallback>}
 */
export async function headGenerator(tree, options) {
  const name = String(options.name ?? '').trim();
  if (!HEAD_NAME.test(name)) {
    throw new Error(`head name "${name}" is not allowed: use lowercase letters, digits and dashes, starting with a letter (it is typed as --head ${name || '<name>'})`);
  }
  const root = `packages/heads-${name}`;
  if (tree.exists(root)) throw new Error(`${root} already exists; pick another name or edit that package`);
  const description = String(options.description ?? DEFAULT_DESCRIPTION).trim() || DEFAULT_DESCRIPTION;
  if (/[\r\n]/.test(description)) throw new Error('the description is one line');
  const camel = names(name).propertyName;
  const factory = RESERVED.has(camel) ? `${camel}Head` : camel;
  /** @type {{ version: string }} */
  const core = readJson(tree, 'packages/core/package.json');
  /** @type {{ version: string }} */
  const testing = readJson(tree, 'packages/testing/package.json');

  generateFiles(tree, FILES, root, {
    name,
    factory,
    description,
    // Escaped for where it lands: a single-quoted TypeScript string and a JSON string.
    descriptionTs: description.replace(/\\/g, '\\\\').replace(/'/g, "\\'"),
    descriptionJson: JSON.stringify(description),
    coreVersion: core.version,
    testingVersion: testing.version,
    tmpl: '',
  });

  // The root solution file builds every package (tsc -b); the new one goes after the other heads.
  updateJson(tree, 'tsconfig.json', (json) => {
    /** @type {{ path: string }[]} */
    const references = json.references ?? [];
    const path = `./${root}`;
    if (!references.some((r) => r.path === path)) {
      const lastHead = references.map((r) => r.path).findLastIndex((p) => p.startsWith('./packages/heads-'));
      references.splice(lastHead === -1 ? references.length : lastHead + 1, 0, { path });
    }
    return { ...json, references };
  });

  await formatFiles(tree);

  return () => {
    const pkg = `@headbench/heads-${name}`;
    /** @type {[string, string][]} */
    const steps = [
      ['npm install', `links ${pkg} into the workspace (and builds it)`],
      [`npx nx test ${pkg}`, 'runs the conformance kit on it'],
      [`edit ${root}/src/index.ts`, 'your layers go between the features and the logits'],
      [`npx nx build ${pkg}`, 'headbench run loads the built package'],
    ];
    const width = Math.max(...steps.map(([command]) => command.length));
    logger.info(
      [
        '',
        `Created ${root} (${pkg}). Next, from the repository root:`,
        ...steps.map(([command, why]) => `  ${command.padEnd(width)}  ${why}`),
        `  npx headbench run --dataset synthetic --input-size 32 --epochs 1 --backbone mobilenetv2:alpha=0.35,weights=none --plugin ${pkg} --head ${name}`,
        'CONTRIBUTING.md has the rest of the path, to a real run and the nightly numbers.',
      ].join('\n'),
    );
  };
}

export default headGenerator;
