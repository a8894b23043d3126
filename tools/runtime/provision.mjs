#!/usr/bin/env node
// @ts-check
// The root postinstall: leaves `require('@tensorflow/tfjs-node')` working, or stops the install
// with one message naming every route tried. README.md, "Native runtime", explains the routes.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { cacheRoot } from './cache.mjs';
import { probeRuntime } from './probe.mjs';
import { provision, ProvisionError } from './provisioner.mjs';
import { defaultRoutes, settingsHint } from './routes.mjs';

const workspace = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const log = (/** @type {string} */ line) => process.stderr.write(`[headbench runtime] ${line}\n`);

async function main() {
  if (process.env.HEADBENCH_SKIP_RUNTIME === '1') {
    log('HEADBENCH_SKIP_RUNTIME=1: not provisioning libtensorflow; training and tests will not run');
    return 0;
  }
  const require = createRequire(path.join(workspace, 'package.json'));
  const tfjsNodeDir = path.dirname(require.resolve('@tensorflow/tfjs-node/package.json'));
  const tfjsNodeVersion = JSON.parse(fs.readFileSync(path.join(tfjsNodeDir, 'package.json'), 'utf8')).version;
  const started = Date.now();
  const ctx = { env: process.env, tfjsNodeDir, tfjsNodeVersion, cacheRoot: cacheRoot(process.env), log };
  try {
    const result = await provision({
      probe: () => probeRuntime(workspace),
      routes: defaultRoutes(ctx),
      log,
      hint: settingsHint(),
    });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    log(`ready via ${result.route} in ${seconds} s: ${result.detail}`);
    return 0;
  } catch (error) {
    if (error instanceof ProvisionError) {
      process.stderr.write(`\n${error.message}\n\n`);
      return 1;
    }
    throw error;
  }
}

process.exitCode = await main();
