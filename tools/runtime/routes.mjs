// @ts-check
// The ways to a working tfjs-node addon, in the order they are tried.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addonCacheDir, libCacheDir, readRecord, restoreAddon, saveAddon, writeRecord } from './cache.mjs';
import { buildAddon, findLibTensorflow, placeInTfjsNode, run } from './libtensorflow.mjs';
import { DEFAULT_WHEEL_SPEC, downloadWheel, extractLibTensorflow, wheelId } from './wheel.mjs';

/**
 * @typedef {{
 *   env: NodeJS.ProcessEnv,
 *   tfjsNodeDir: string,
 *   tfjsNodeVersion: string,
 *   cacheRoot: string,
 *   log: (line: string) => void,
 * }} RouteContext
 */

/** The environment variables a user can set, with what they do (printed when every route fails). */
export const SETTINGS = {
  HEADBENCH_LIBTENSORFLOW_DIR: 'a libtensorflow to build against: an unpacked libtensorflow tarball (lib/, include/) or an unpacked TensorFlow wheel',
  HEADBENCH_TENSORFLOW_WHEEL: 'a TensorFlow wheel file (.whl) already on disk, used instead of `pip download`',
  HEADBENCH_TENSORFLOW_SPEC: `the pip requirement to download (default ${DEFAULT_WHEEL_SPEC})`,
  HEADBENCH_PYTHON: 'the Python whose pip downloads the wheel (default python3)',
  HEADBENCH_CACHE_DIR: 'where the extracted library and built addon are kept (default $XDG_CACHE_HOME/headbench or ~/.cache/headbench)',
  HEADBENCH_SKIP_OFFICIAL: 'set to 1 to skip tfjs-node\'s own download from Google storage',
  HEADBENCH_SKIP_RUNTIME: 'set to 1 to skip provisioning altogether (nothing that trains will work)',
};

/** @param {RouteContext} ctx @param {string} source @param {import('./libtensorflow.mjs').LibTensorflow} lib @param {string} libId */
function remember(ctx, source, lib, libId) {
  const addonDir = addonCacheDir(ctx.cacheRoot, ctx.tfjsNodeVersion, libId);
  saveAddon(ctx.tfjsNodeDir, addonDir);
  writeRecord(ctx.cacheRoot, ctx.tfjsNodeVersion, { source, ...lib, addonDir, savedAt: new Date().toISOString() });
  ctx.log(`cached for later installs in ${ctx.cacheRoot}`);
}

/** @param {RouteContext} ctx @returns {import('./provisioner.mjs').Route} */
export function cachedRoute(ctx) {
  return {
    name: 'cache',
    describe: `reuse the runtime provisioned earlier (${ctx.cacheRoot})`,
    skip: () => {
      const found = readRecord(ctx.cacheRoot, ctx.tfjsNodeVersion);
      return 'missing' in found ? found.missing : undefined;
    },
    run: async () => {
      const found = readRecord(ctx.cacheRoot, ctx.tfjsNodeVersion);
      if ('missing' in found) throw new Error(found.missing);
      ctx.log(`using ${found.record.source}`);
      placeInTfjsNode(found.record, ctx.tfjsNodeDir);
      restoreAddon(found.record.addonDir, ctx.tfjsNodeDir);
    },
  };
}

/** @param {RouteContext} ctx @returns {import('./provisioner.mjs').Route} */
export function directoryRoute(ctx) {
  const dir = ctx.env.HEADBENCH_LIBTENSORFLOW_DIR;
  /** @type {import('./libtensorflow.mjs').LibTensorflow | undefined} */
  let lib;
  return {
    name: 'HEADBENCH_LIBTENSORFLOW_DIR',
    describe: `build against the libtensorflow in ${dir}`,
    skip: () => (dir ? undefined : 'not set'),
    run: async () => {
      lib = findLibTensorflow(path.resolve(/** @type {string} */ (dir)));
      placeInTfjsNode(lib, ctx.tfjsNodeDir);
      await buildAddon(ctx.tfjsNodeDir, ctx);
    },
    afterSuccess: async () => {
      if (lib) remember(ctx, `libtensorflow in ${dir}`, lib, `dir-${createHash('sha256').update(path.resolve(String(dir))).digest('hex').slice(0, 16)}`);
    },
  };
}

/** tfjs-node's own install script: downloads libtensorflow from Google storage, then builds or fetches the addon. */
/** @param {RouteContext} ctx @returns {import('./provisioner.mjs').Route} */
export function officialRoute(ctx) {
  const script = path.join(ctx.tfjsNodeDir, 'scripts', 'install.js');
  return {
    name: 'official',
    describe: "tfjs-node's own install script (downloads libtensorflow from storage.googleapis.com)",
    skip: () => (ctx.env.HEADBENCH_SKIP_OFFICIAL === '1' ? 'HEADBENCH_SKIP_OFFICIAL=1' : undefined),
    run: async () => {
      // The script rewrites tfjs-node's package.json while it builds; put it back whatever happens.
      const manifest = path.join(ctx.tfjsNodeDir, 'package.json');
      const original = fs.readFileSync(manifest);
      try {
        await run(process.execPath, [script], { cwd: ctx.tfjsNodeDir, env: ctx.env, timeoutMs: Number(ctx.env.HEADBENCH_OFFICIAL_TIMEOUT_S ?? 600) * 1000 });
      } finally {
        fs.writeFileSync(manifest, original);
      }
    },
    afterSuccess: async () => {
      const libId = 'official';
      const keep = libCacheDir(ctx.cacheRoot, libId);
      fs.rmSync(keep, { recursive: true, force: true });
      fs.mkdirSync(path.dirname(keep), { recursive: true });
      fs.cpSync(path.join(ctx.tfjsNodeDir, 'deps'), keep, { recursive: true, verbatimSymlinks: true });
      remember(ctx, "tfjs-node's official libtensorflow download", findLibTensorflow(keep), libId);
    },
  };
}

/** @param {RouteContext} ctx @returns {import('./provisioner.mjs').Route} */
export function wheelRoute(ctx) {
  const spec = ctx.env.HEADBENCH_TENSORFLOW_SPEC || DEFAULT_WHEEL_SPEC;
  const given = ctx.env.HEADBENCH_TENSORFLOW_WHEEL;
  /** @type {{ lib: import('./libtensorflow.mjs').LibTensorflow, id: string } | undefined} */
  let provisioned;
  return {
    name: 'wheel',
    describe: given ? `libtensorflow from ${given}` : `libtensorflow from the ${spec} wheel via pip download`,
    skip: () => (process.platform === 'linux' ? undefined : `TensorFlow wheels carry libtensorflow_cc.so only on Linux, not ${process.platform}`),
    run: async () => {
      let wheel = given;
      let downloadDir;
      if (!wheel) {
        downloadDir = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-wheel-'));
        ctx.log(`pip download ${spec} (uses your pip configuration; PIP_RETRIES=0 PIP_TIMEOUT=5 unless set)`);
        wheel = await downloadWheel({ spec, python: ctx.env.HEADBENCH_PYTHON || 'python3', dir: downloadDir, env: ctx.env });
      } else if (!fs.existsSync(wheel)) {
        throw new Error(`HEADBENCH_TENSORFLOW_WHEEL=${wheel} does not exist`);
      }
      try {
        const id = wheelId(wheel);
        const dir = libCacheDir(ctx.cacheRoot, id);
        if (fs.existsSync(dir)) ctx.log(`already extracted: ${dir}`);
        else await extractLibTensorflow(wheel, dir, ctx.log);
        const lib = findLibTensorflow(dir);
        placeInTfjsNode(lib, ctx.tfjsNodeDir);
        await buildAddon(ctx.tfjsNodeDir, ctx);
        provisioned = { lib, id };
      } finally {
        // The wheel is 270 MB and everything needed from it is now in the cache.
        if (downloadDir) fs.rmSync(downloadDir, { recursive: true, force: true });
      }
    },
    afterSuccess: async () => {
      if (provisioned) remember(ctx, `the ${provisioned.id} wheel`, provisioned.lib, provisioned.id);
    },
  };
}

/** @param {RouteContext} ctx */
export function defaultRoutes(ctx) {
  return [cachedRoute(ctx), directoryRoute(ctx), officialRoute(ctx), wheelRoute(ctx)];
}

export function settingsHint() {
  return [
    'You can set (then run `npm install` again):',
    ...Object.entries(SETTINGS).map(([k, v]) => `  ${k}: ${v}`),
    'See README.md, "Native runtime".',
  ].join('\n');
}
