import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A full disk for the caches' tests: a small filesystem, a tmpfs, which only root may mount; where
 * it cannot be mounted `canMount` is false and those tests are skipped. `mount()` before a test,
 * `unmount()` after it, `remove()` when the file's tests are done.
 */
export function smallDisk(name: string, size = '4m') {
  const mountPoint = path.join(os.tmpdir(), `headbench-${name}-full-disk-${process.pid}`);
  const mount = () => {
    fs.mkdirSync(mountPoint, { recursive: true });
    return spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mountPoint], { stdio: 'ignore' }).status === 0;
  };
  const unmount = () => void spawnSync('umount', [mountPoint], { stdio: 'ignore' });
  const canMount = process.platform === 'linux' && process.getuid?.() === 0 && mount();
  if (canMount) unmount();
  const remove = () => {
    if (canMount) unmount();
    fs.rmSync(mountPoint, { recursive: true, force: true });
  };
  return { mountPoint, canMount, mount, unmount, remove };
}
