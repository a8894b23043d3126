import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addonCacheDir, readRecord, restoreAddon, saveAddon, writeRecord } from './cache.mjs';
import { findLibTensorflow, placeInTfjsNode, summarizeOutput, withNodeHeaders } from './libtensorflow.mjs';
import { summarizeLoadError } from './probe.mjs';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-runtime-test-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function touch(file: string, content = 'x') {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

describe('findLibTensorflow', () => {
  it('reads the official tarball layout and prefers the versioned file', () => {
    touch(path.join(tmp, 'lib/libtensorflow.so.2.9.1'));
    fs.symlinkSync('libtensorflow.so.2.9.1', path.join(tmp, 'lib/libtensorflow.so.2'));
    touch(path.join(tmp, 'lib/libtensorflow_framework.so.2.9.1'));
    touch(path.join(tmp, 'include/tensorflow/c/c_api.h'));
    const lib = findLibTensorflow(tmp);
    expect(lib).toEqual({
      libDir: path.join(tmp, 'lib'),
      includeDir: path.join(tmp, 'include'),
      library: 'libtensorflow.so.2.9.1',
      framework: 'libtensorflow_framework.so.2.9.1',
    });
  });

  it('reads an unpacked TensorFlow wheel', () => {
    touch(path.join(tmp, 'tensorflow/libtensorflow_cc.so.2'));
    touch(path.join(tmp, 'tensorflow/libtensorflow_framework.so.2'));
    touch(path.join(tmp, 'tensorflow/include/tensorflow/c/c_api.h'));
    const lib = findLibTensorflow(tmp);
    expect(lib.library).toBe('libtensorflow_cc.so.2');
    expect(lib.includeDir).toBe(path.join(tmp, 'tensorflow/include'));
  });

  it('says which headers are missing', () => {
    touch(path.join(tmp, 'lib/libtensorflow_cc.so.2'));
    touch(path.join(tmp, 'lib/libtensorflow_framework.so.2'));
    expect(() => findLibTensorflow(tmp)).toThrow(/tensorflow\/c\/c_api\.h is missing/);
  });

  it('says what it looked for in a folder without a library', () => {
    touch(path.join(tmp, 'README'));
    expect(() => findLibTensorflow(tmp)).toThrow(/no libtensorflow found in .*lib\/libtensorflow\.so\*/);
    expect(() => findLibTensorflow(path.join(tmp, 'absent'))).toThrow(/does not exist/);
  });
});

describe('placeInTfjsNode', () => {
  it('links the libraries under the names binding.gyp links against, and the headers', () => {
    touch(path.join(tmp, 'cache/lib/libtensorflow_cc.so.2'), 'cc');
    touch(path.join(tmp, 'cache/lib/libtensorflow_framework.so.2'), 'fw');
    touch(path.join(tmp, 'cache/include/tensorflow/c/c_api.h'), '// api');
    const tfjsNode = path.join(tmp, 'tfjs-node');
    touch(path.join(tfjsNode, 'deps/stale'), 'from an earlier attempt');
    placeInTfjsNode(findLibTensorflow(path.join(tmp, 'cache')), tfjsNode);
    const depsLib = path.join(tfjsNode, 'deps/lib');
    expect(fs.readdirSync(depsLib).sort()).toEqual([
      'libtensorflow.so',
      'libtensorflow_cc.so.2',
      'libtensorflow_framework.so',
      'libtensorflow_framework.so.2',
    ]);
    expect(fs.readFileSync(path.join(depsLib, 'libtensorflow.so'), 'utf8')).toBe('cc');
    expect(fs.readFileSync(path.join(depsLib, 'libtensorflow_framework.so'), 'utf8')).toBe('fw');
    // A hard link: the runtime keeps working if the cache is cleared.
    expect(fs.lstatSync(path.join(depsLib, 'libtensorflow_cc.so.2')).isFile()).toBe(true);
    expect(fs.readFileSync(path.join(tfjsNode, 'deps/include/tensorflow/c/c_api.h'), 'utf8')).toBe('// api');
    expect(fs.existsSync(path.join(tfjsNode, 'deps/stale'))).toBe(false);
  });
});

describe('the cache record', () => {
  it('is missing, incomplete, or complete, and the addon round-trips', () => {
    const root = path.join(tmp, 'cache');
    expect(readRecord(root, '4.22.0')).toEqual({ missing: `no earlier provisioning recorded in ${root}` });

    touch(path.join(root, 'libtensorflow/w/lib/libtensorflow_cc.so.2'));
    touch(path.join(root, 'libtensorflow/w/lib/libtensorflow_framework.so.2'));
    touch(path.join(root, 'libtensorflow/w/include/tensorflow/c/c_api.h'));
    const tfjsNode = path.join(tmp, 'tfjs-node');
    touch(path.join(tfjsNode, 'lib/napi-v8/tfjs_binding.node'), 'addon');
    const addonDir = addonCacheDir(root, '4.22.0', 'w');
    saveAddon(tfjsNode, addonDir);
    const lib = findLibTensorflow(path.join(root, 'libtensorflow/w'));
    writeRecord(root, '4.22.0', { source: 'test', ...lib, addonDir, savedAt: 'now' });
    expect('record' in readRecord(root, '4.22.0')).toBe(true);

    fs.rmSync(path.join(tfjsNode, 'lib'), { recursive: true });
    restoreAddon(addonDir, tfjsNode);
    expect(fs.readFileSync(path.join(tfjsNode, 'lib/napi-v8/tfjs_binding.node'), 'utf8')).toBe('addon');

    fs.rmSync(path.join(root, 'libtensorflow/w/lib/libtensorflow_framework.so.2'));
    expect(readRecord(root, '4.22.0')).toEqual({
      missing: `the cached runtime is incomplete: ${path.join(root, 'libtensorflow/w/lib/libtensorflow_framework.so.2')} is gone`,
    });
  });
});

describe('withNodeHeaders', () => {
  it("keeps npm's nodedir, else points node-gyp at the headers installed beside node", () => {
    expect(withNodeHeaders({ npm_config_nodedir: '/opt/node' }).npm_config_nodedir).toBe('/opt/node');
    touch(path.join(tmp, 'include/node/node_api.h'));
    expect(withNodeHeaders({}, path.join(tmp, 'bin/node')).npm_config_nodedir).toBe(tmp);
    expect(withNodeHeaders({}, path.join(tmp, 'elsewhere/bin/node')).npm_config_nodedir).toBeUndefined();
  });
});

describe('error summaries', () => {
  it('keep the cause of a failed build and drop the stack and environment report', () => {
    const output = [
      'gyp info it worked if it ends with ok',
      "../binding/tfjs_backend.cc:18:10: fatal error: tensorflow/c/c_api.h: No such file or directory",
      'gyp ERR! build error',
      'node-pre-gyp ERR! stack     at ChildProcess.<anonymous> (/x/build.js:1:1)',
      'node-pre-gyp ERR! System Linux 6.1',
      'node-pre-gyp ERR! command "/usr/bin/node"',
      'node-pre-gyp ERR! cwd /x',
      'node-pre-gyp ERR! node -v v20.20.2',
    ].join('\n');
    const summary = summarizeOutput(output);
    expect(summary).toContain('fatal error: tensorflow/c/c_api.h');
    expect(summary).not.toMatch(/System Linux|stack|cwd/);
  });

  it('name the missing library when the addon cannot load', () => {
    const stderr = [
      'node:internal/modules/cjs/loader:1460',
      '  return process.dlopen(module, path.toNamespacedPath(filename));',
      '                 ^',
      'Error: libtensorflow_framework.so.2: cannot open shared object file: No such file or directory',
      '    at Module._extensions..node (node:internal/modules/cjs/loader:1460:18)',
    ].join('\n');
    expect(summarizeLoadError(stderr, 1, null)).toBe(
      'Error: libtensorflow_framework.so.2: cannot open shared object file: No such file or directory',
    );
    expect(summarizeLoadError('', null, 'SIGSEGV')).toBe('the probe process was killed by SIGSEGV');
  });
});
