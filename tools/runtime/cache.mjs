// @ts-check
// A cache outside node_modules, so that `npm ci` (which deletes node_modules) reuses the
// extracted libtensorflow and the built addon instead of provisioning again.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** @param {NodeJS.ProcessEnv} env */
export function cacheRoot(env) {
  if (env.HEADBENCH_CACHE_DIR) return path.resolve(env.HEADBENCH_CACHE_DIR);
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'headbench');
}

/**
 * @typedef {{ source: string, libDir: string, includeDir: string, library: string, framework: string, addonDir: string, savedAt: string }} RuntimeRecord
 *   What the last successful provisioning used: enough to place it again without rebuilding.
 */

/** @param {string} root @param {string} tfjsNodeVersion */
function recordPath(root, tfjsNodeVersion) {
  return path.join(root, `runtime-tfjs-node-${tfjsNodeVersion}-${process.platform}-${process.arch}.json`);
}

/** @param {string} root @param {string} tfjsNodeVersion @param {string} libId */
export function addonCacheDir(root, tfjsNodeVersion, libId) {
  return path.join(root, 'addons', `tfjs-node-${tfjsNodeVersion}-${process.platform}-${process.arch}`, libId);
}

/** @param {string} root @param {string} libId */
export function libCacheDir(root, libId) {
  return path.join(root, 'libtensorflow', libId);
}

/**
 * @param {string} root @param {string} tfjsNodeVersion
 * @returns {{ record: RuntimeRecord } | { missing: string }}
 */
export function readRecord(root, tfjsNodeVersion) {
  const file = recordPath(root, tfjsNodeVersion);
  if (!fs.existsSync(file)) return { missing: `no earlier provisioning recorded in ${root}` };
  /** @type {RuntimeRecord} */
  let record;
  try {
    record = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    return { missing: `${file} is not valid JSON (${error instanceof Error ? error.message : error})` };
  }
  for (const p of [path.join(record.libDir, record.library), path.join(record.libDir, record.framework), record.includeDir, record.addonDir]) {
    if (!fs.existsSync(p)) return { missing: `the cached runtime is incomplete: ${p} is gone` };
  }
  return { record };
}

/** @param {string} root @param {string} tfjsNodeVersion @param {RuntimeRecord} record */
export function writeRecord(root, tfjsNodeVersion, record) {
  fs.mkdirSync(root, { recursive: true });
  const file = recordPath(root, tfjsNodeVersion);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(record, null, 2));
  fs.renameSync(`${file}.tmp`, file);
}

/** Keeps tfjs-node's built `lib/` (the addon) for later installs. @param {string} tfjsNodeDir @param {string} addonDir */
export function saveAddon(tfjsNodeDir, addonDir) {
  const partial = `${addonDir}.partial-${process.pid}`;
  fs.rmSync(partial, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(addonDir), { recursive: true });
  fs.cpSync(path.join(tfjsNodeDir, 'lib'), partial, { recursive: true });
  fs.rmSync(addonDir, { recursive: true, force: true });
  fs.renameSync(partial, addonDir);
}

/** @param {string} addonDir @param {string} tfjsNodeDir */
export function restoreAddon(addonDir, tfjsNodeDir) {
  const lib = path.join(tfjsNodeDir, 'lib');
  fs.rmSync(lib, { recursive: true, force: true });
  fs.cpSync(addonDir, lib, { recursive: true });
}
