#!/usr/bin/env node
// The packages' architecture in numbers: non-test TypeScript lines per package, the packages'
// dependencies, and any circle among packages or among source files.
//
//   node tools/architecture/graph.mjs          a table of lines per package, then the circles (none, we hope)
//
// Lines: every `.ts` file under packages/<name>/src except `*.test.ts`, counted as `wc -l` does
// (newlines). Helpers that tests import but that are not tests themselves (the conformance kit,
// packages/cli/src/testing/cli.ts) are source and counted.
// Files: each non-test source file's imports (`import ... from`, `export ... from`, `import()`),
// relative ones resolved to the .ts file and `@headbench/<name>[/sub]` to the file its
// `@headbench/source` export names; circles are the strongly connected components with more than
// one file (or a file that imports itself).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PACKAGES = path.join(ROOT, 'packages');

/**
 * @typedef {{ dir: string, name: string, deps: string[], exports: Record<string, string> }} Package
 */

/** @returns {Package[]} every package under packages/, with its @headbench dependencies of any kind. */
export function packages() {
  return fs
    .readdirSync(PACKAGES, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(PACKAGES, e.name, 'package.json')))
    .map((e) => {
      const dir = path.join(PACKAGES, e.name);
      const json = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      const deps = new Set(
        [json.dependencies, json.peerDependencies, json.devDependencies].flatMap((d) => Object.keys(d ?? {})).filter((n) => n.startsWith('@headbench/')),
      );
      /** @type {Record<string, string>} */
      const exports = {};
      for (const [sub, target] of Object.entries(json.exports ?? {})) {
        const source = typeof target === 'object' && target ? target['@headbench/source'] : undefined;
        if (typeof source === 'string') exports[sub] = path.join(dir, source);
      }
      return { dir, name: json.name, deps: [...deps].sort(), exports };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** @param {string} dir @returns {string[]} */
function sourceFiles(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'fixtures' ? [] : sourceFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

/** @param {string} file */
const lineCount = (file) => fs.readFileSync(file, 'utf8').split('\n').length - 1;

/** @returns {{ name: string, lines: number }[]} non-test TypeScript lines of each package's src. */
export function linesPerPackage() {
  return packages().map((p) => ({ name: p.name, lines: sourceFiles(path.join(p.dir, 'src')).reduce((sum, f) => sum + lineCount(f), 0) }));
}

/**
 * Strongly connected components of more than one node, or of a node with an edge to itself (Tarjan).
 * @param {Map<string, string[]>} graph
 * @returns {string[][]}
 */
export function circles(graph) {
  let index = 0;
  /** @type {Map<string, number>} */ const order = new Map();
  /** @type {Map<string, number>} */ const low = new Map();
  /** @type {string[]} */ const stack = [];
  const onStack = new Set();
  /** @type {string[][]} */ const found = [];
  /** @param {string} v */
  const visit = (v) => {
    order.set(v, index);
    low.set(v, index);
    index += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!order.has(w)) {
        visit(w);
        low.set(v, Math.min(/** @type {number} */ (low.get(v)), /** @type {number} */ (low.get(w))));
      } else if (onStack.has(w)) low.set(v, Math.min(/** @type {number} */ (low.get(v)), /** @type {number} */ (order.get(w))));
    }
    if (low.get(v) === order.get(v)) {
      /** @type {string[]} */ const component = [];
      let w;
      do {
        w = /** @type {string} */ (stack.pop());
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!order.has(v)) visit(v);
  return found;
}

/** @returns {Map<string, string[]>} package name -> the @headbench packages it depends on. */
export function packageGraph() {
  return new Map(packages().map((p) => [p.name, p.deps]));
}

/** @param {string} from @param {string} to package names @returns {boolean} whether `from` depends on `to`, directly or not. */
export function dependsOn(from, to) {
  const graph = packageGraph();
  const seen = new Set();
  const todo = [...(graph.get(from) ?? [])];
  while (todo.length) {
    const next = /** @type {string} */ (todo.pop());
    if (next === to) return true;
    if (seen.has(next)) continue;
    seen.add(next);
    todo.push(...(graph.get(next) ?? []));
  }
  return false;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)/g;

/** @returns {Map<string, string[]>} source file (relative to the root) -> the source files it imports. */
export function fileGraph() {
  const all = packages();
  const byName = new Map(all.map((p) => [p.name, p]));
  /** @type {Map<string, string[]>} */
  const graph = new Map();
  for (const p of all) {
    for (const file of sourceFiles(path.join(p.dir, 'src'))) {
      const text = fs.readFileSync(file, 'utf8');
      /** @type {string[]} */
      const targets = [];
      for (const m of text.matchAll(IMPORT)) {
        const spec = m[1] ?? m[2] ?? '';
        let target;
        if (spec.startsWith('.')) target = path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts');
        else {
          const pkg = /^(@headbench\/[^/]+)(\/.*)?$/.exec(spec);
          if (pkg) target = byName.get(pkg[1] ?? '')?.exports[pkg[2] ? `.${pkg[2]}` : '.'];
        }
        if (target && fs.existsSync(target)) targets.push(path.relative(ROOT, target));
      }
      graph.set(path.relative(ROOT, file), targets);
    }
  }
  return graph;
}

function main() {
  const counts = linesPerPackage();
  const total = counts.reduce((s, c) => s + c.lines, 0);
  const width = Math.max(...counts.map((c) => c.name.length));
  console.log(`${'package'.padEnd(width)}  non-test lines  share`);
  for (const c of [...counts].sort((a, b) => b.lines - a.lines)) {
    console.log(`${c.name.padEnd(width)}  ${c.lines.toLocaleString('en-US').padStart(14)}  ${((100 * c.lines) / total).toFixed(1).padStart(4)}%`);
  }
  console.log(`${'all packages'.padEnd(width)}  ${total.toLocaleString('en-US').padStart(14)}`);
  const packageCircles = circles(packageGraph());
  const fileCircles = circles(fileGraph());
  console.log(`\npackage dependency circles: ${packageCircles.length ? packageCircles.map((c) => c.join(' -> ')).join('; ') : 'none'}`);
  console.log(`file import circles: ${fileCircles.length ? '' : 'none'}`);
  for (const c of fileCircles) console.log(`  ${c.join('\n  ')}\n`);
  if (packageCircles.length || fileCircles.length) process.exitCode = 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
