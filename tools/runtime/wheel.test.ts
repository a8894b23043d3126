import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import yazl from 'yazl';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findLibTensorflow } from './libtensorflow.mjs';
import { destinationOf, extractLibTensorflow, wheelId } from './wheel.mjs';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-wheel-test-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function writeWheel(file: string, members: Record<string, string>) {
  const zip = new yazl.ZipFile();
  for (const [name, content] of Object.entries(members)) zip.addBuffer(Buffer.from(content), name);
  zip.end();
  const out = fs.createWriteStream(file);
  zip.outputStream.pipe(out);
  await once(out, 'close');
}

describe('destinationOf', () => {
  it('takes the two libraries and the C API headers, nothing else', () => {
    expect(destinationOf('tensorflow/libtensorflow_cc.so.2')).toBe('lib/libtensorflow_cc.so.2');
    expect(destinationOf('tensorflow/libtensorflow_framework.so.2')).toBe('lib/libtensorflow_framework.so.2');
    expect(destinationOf('tensorflow/include/tensorflow/c/eager/c_api.h')).toBe('include/tensorflow/c/eager/c_api.h');
    expect(destinationOf('tensorflow/include/tsl/platform/ctstring.h')).toBe('include/tsl/platform/ctstring.h');
    expect(destinationOf('tensorflow/include/xla/tsl/c/tsl_status.h')).toBe('include/xla/tsl/c/tsl_status.h');
    expect(destinationOf('tensorflow/include/Eigen/Core')).toBeUndefined();
    expect(destinationOf('tensorflow/include/external/eigen/x.h')).toBeUndefined();
    expect(destinationOf('tensorflow/python/_pywrap_tensorflow_internal.so')).toBeUndefined();
  });
});

describe('extractLibTensorflow', () => {
  it('extracts a wheel into a complete libtensorflow folder', async () => {
    const wheel = path.join(tmp, 'tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl');
    await writeWheel(wheel, {
      'tensorflow/libtensorflow_cc.so.2': 'cc',
      'tensorflow/libtensorflow_framework.so.2': 'fw',
      'tensorflow/include/tensorflow/c/c_api.h': '// c api',
      'tensorflow/include/Eigen/Core': 'not needed',
      'tensorflow/__init__.py': '',
    });
    const dest = path.join(tmp, 'cache', wheelId(wheel));
    const progress: string[] = [];
    await extractLibTensorflow(wheel, dest, (l) => progress.push(l));
    expect(path.basename(dest)).toBe('tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64');
    const lib = findLibTensorflow(dest);
    expect(fs.readFileSync(path.join(lib.libDir, lib.library), 'utf8')).toBe('cc');
    expect(fs.existsSync(path.join(dest, 'include/Eigen'))).toBe(false);
    expect(fs.readdirSync(path.join(tmp, 'cache'))).toEqual([path.basename(dest)]);
    expect(progress[0]).toMatch(/extracting 3 files/);
  });

  it('rejects a wheel without libtensorflow and leaves nothing that looks complete', async () => {
    const wheel = path.join(tmp, 'numpy-2.0.0-cp311-cp311-linux_x86_64.whl');
    await writeWheel(wheel, { 'numpy/__init__.py': '' });
    const dest = path.join(tmp, 'cache', wheelId(wheel));
    await expect(extractLibTensorflow(wheel, dest, () => {})).rejects.toThrow(/has no tensorflow\/libtensorflow_cc\.so\.2/);
    expect(fs.existsSync(dest)).toBe(false);
  });
});
