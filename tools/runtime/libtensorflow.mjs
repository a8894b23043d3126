// @ts-check
// Where a libtensorflow lives on disk, how it is placed into tfjs-node's deps/, and how the
// addon is built against it and kept for later installs.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

/**
 * @typedef {{ libDir: string, includeDir: string, library: string, framework: string }} LibTensorflow
 *   `library` and `framework` are file names inside `libDir`.
 */

const LIBRARY = /^libtensorflow(_cc)?\.so(\.\d+)*$/;
const FRAMEWORK = /^libtensorflow_framework\.so(\.\d+)*$/;

/**
 * Finds the C library, the framework library and the C API headers in the layouts people have:
 * the official libtensorflow tarball (`lib/`, `include/`), an unpacked TensorFlow wheel
 * (`tensorflow/libtensorflow_cc.so.2`, `tensorflow/include/`) or the `tensorflow/` folder itself.
 * @param {string} dir
 * @returns {LibTensorflow}
 */
export function findLibTensorflow(dir) {
  if (!fs.existsSync(dir)) throw new Error(`${dir} does not exist`);
  const candidates = [
    { libDir: path.join(dir, 'lib'), includeDir: path.join(dir, 'include') },
    { libDir: path.join(dir, 'tensorflow'), includeDir: path.join(dir, 'tensorflow', 'include') },
    { libDir: dir, includeDir: path.join(dir, 'include') },
  ];
  for (const { libDir, includeDir } of candidates) {
    if (!fs.existsSync(libDir)) continue;
    const names = fs.readdirSync(libDir).sort(byVersionDescending);
    const library = names.find((n) => LIBRARY.test(n));
    const framework = names.find((n) => FRAMEWORK.test(n));
    if (!library || !framework) continue;
    if (!fs.existsSync(path.join(includeDir, 'tensorflow', 'c', 'c_api.h'))) {
      throw new Error(`${libDir} has ${library} but ${includeDir}/tensorflow/c/c_api.h is missing (the C API headers are needed to build the addon)`);
    }
    return { libDir, includeDir, library, framework };
  }
  throw new Error(
    `no libtensorflow found in ${dir}: expected lib/libtensorflow.so* and lib/libtensorflow_framework.so* ` +
      `(official tarball) or tensorflow/libtensorflow_cc.so.2 (an unpacked TensorFlow wheel)`,
  );
}

/** Longer (more versioned) names first, so `libtensorflow.so.2.9.1` wins over its `libtensorflow.so` link. */
function byVersionDescending(/** @type {string} */ a, /** @type {string} */ b) {
  return b.length - a.length || a.localeCompare(b);
}

/**
 * Links the library into `<tfjsNodeDir>/deps` where binding.gyp looks for it: the real files by
 * hard link (so they survive a cleared cache) or symlink across file systems, plus the linker
 * names `libtensorflow.so` and `libtensorflow_framework.so`.
 * @param {LibTensorflow} lib @param {string} tfjsNodeDir
 */
export function placeInTfjsNode(lib, tfjsNodeDir) {
  const deps = path.join(tfjsNodeDir, 'deps');
  const depsLib = path.join(deps, 'lib');
  fs.rmSync(deps, { recursive: true, force: true });
  fs.mkdirSync(depsLib, { recursive: true });
  for (const name of fs.readdirSync(lib.libDir)) {
    if (!name.startsWith('libtensorflow')) continue;
    const source = path.join(lib.libDir, name);
    const target = path.join(depsLib, name);
    const stat = fs.lstatSync(source);
    if (stat.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(source), target);
    else if (stat.isFile()) linkOrSymlink(source, target);
  }
  /** @type {Array<[string, string]>} */
  const linkerNames = [
    ['libtensorflow.so', lib.library],
    ['libtensorflow_framework.so', lib.framework],
  ];
  for (const [linkerName, real] of linkerNames) {
    const target = path.join(depsLib, linkerName);
    if (!fs.existsSync(target)) fs.symlinkSync(real, target);
  }
  // Headers are only read while compiling; a link avoids copying a large include tree.
  fs.symlinkSync(path.resolve(lib.includeDir), path.join(deps, 'include'));
}

/** @param {string} source @param {string} target */
function linkOrSymlink(source, target) {
  try {
    fs.linkSync(source, target);
  } catch {
    fs.symlinkSync(path.resolve(source), target);
  }
}

/**
 * Builds tfjs-node's addon from source against whatever is in its deps/.
 * @param {string} tfjsNodeDir
 * @param {{ env: NodeJS.ProcessEnv, log: (line: string) => void }} io
 */
export async function buildAddon(tfjsNodeDir, { env, log }) {
  const require = createRequire(path.join(tfjsNodeDir, 'package.json'));
  const nodePreGyp = require.resolve('@mapbox/node-pre-gyp/bin/node-pre-gyp');
  log('building the tfjs-node addon against libtensorflow (about 10 s)');
  fs.rmSync(path.join(tfjsNodeDir, 'lib'), { recursive: true, force: true });
  await run(process.execPath, [nodePreGyp, 'install', '--build-from-source'], { cwd: tfjsNodeDir, env: withNodeHeaders(env), timeoutMs: 15 * 60_000 });
  if (!findAddon(tfjsNodeDir)) throw new Error('node-pre-gyp reported success but no lib/napi-v*/tfjs_binding.node was written');
}

/**
 * node-gyp downloads Node's headers unless told where they are. Under npm, `npm_config_nodedir`
 * carries npm's setting; otherwise use the headers installed beside this node, when present.
 * @param {NodeJS.ProcessEnv} env
 */
export function withNodeHeaders(env, execPath = process.execPath) {
  if (env.npm_config_nodedir) return env;
  const prefix = path.resolve(path.dirname(execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? { ...env, npm_config_nodedir: prefix } : env;
}

/** @param {string} tfjsNodeDir */
export function findAddon(tfjsNodeDir) {
  const libRoot = path.join(tfjsNodeDir, 'lib');
  if (!fs.existsSync(libRoot)) return undefined;
  for (const dir of fs.readdirSync(libRoot)) {
    const file = path.join(libRoot, dir, 'tfjs_binding.node');
    if (dir.startsWith('napi-v') && fs.existsSync(file)) return file;
  }
  return undefined;
}

/**
 * Runs a command, failing with the tail of its output.
 * @param {string} command @param {string[]} args
 * @param {{ cwd?: string, env?: NodeJS.ProcessEnv, timeoutMs?: number }} options
 */
export function run(command, args, { cwd, env, timeoutMs = 10 * 60_000 }) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let output = '';
    const keep = (/** @type {Buffer} */ d) => {
      output = (output + d.toString()).slice(-20_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (e) => reject(new Error(`${path.basename(command)} could not start: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(output);
      const tail = summarizeOutput(output);
      const how = signal ? `was stopped by ${signal} (time limit ${Math.round(timeoutMs / 1000)} s?)` : `exited with ${code}`;
      reject(new Error(`${path.basename(command)} ${args.slice(0, 2).join(' ')} ${how}:\n${tail}`));
    });
  });
}

/**
 * The lines of a failed command's output that say why: stack frames and node-gyp's
 * environment report (System, command, cwd, versions) are dropped.
 * @param {string} output
 */
export function summarizeOutput(output) {
  const noise = /^\s*at |ERR! (stack\s+at|System|command|cwd|node -v|node-pre-gyp -v|not ok)|^\s*[{}]\s*$|^Node\.js v/;
  return output
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() && !noise.test(l))
    .slice(-5)
    .join('\n');
}
