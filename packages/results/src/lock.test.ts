import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOCK_FILE, lockFolder } from './lock.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-lock-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const writeLock = (info: object) => fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify(info));
/** A pid whose process has exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid;

describe('lockFolder', () => {
  it('holds a folder until released, refusing others with the holder\'s pid and start', () => {
    const lock = lockFolder(dir, ['run', '--out', dir]);
    expect(JSON.parse(fs.readFileSync(lock.file, 'utf8'))).toMatchObject({ pid: process.pid, hostname: os.hostname(), argv: ['run', '--out', dir] });
    expect(() => lockFolder(dir, ['run'])).toThrow(`${dir} is being written by headbench pid ${process.pid} on ${os.hostname()}, started ${lock.info.startedAt} (headbench run --out ${dir}); wait for it to finish, or choose another --out`);
    lock.release();
    lock.release();
    expect(fs.existsSync(lock.file)).toBe(false);
    lockFolder(dir, []).release();
  });

  it('takes over the lock of a run that is gone, with a note', () => {
    const pid = deadPid();
    writeLock({ pid, hostname: os.hostname(), startedAt: '2025-01-01T00:00:00.000Z', argv: ['run'], cwd: '/' });
    const lock = lockFolder(dir, []);
    expect(lock.note).toBe(`took over the lock of ${dir}: headbench pid ${pid} on ${os.hostname()}, started 2025-01-01T00:00:00.000Z (headbench run) is no longer running`);
    expect(JSON.parse(fs.readFileSync(lock.file, 'utf8')).pid).toBe(process.pid);
    lock.release();
  });

  it.skipIf(process.platform !== 'linux')('takes over a lock whose pid now belongs to a process that started later (after a reboot, say)', () => {
    writeLock({ pid: process.pid, hostname: os.hostname(), startedAt: '2001-01-01T00:00:00.000Z', argv: ['run'], cwd: '/' });
    const lock = lockFolder(dir, []);
    expect(lock.note).toMatch(/is no longer running$/);
    lock.release();
  });

  it('refuses a lock of another host, and a lock being written; takes over an old unreadable one', () => {
    writeLock({ pid: 1, hostname: 'elsewhere', startedAt: '2025-01-01T00:00:00.000Z', argv: ['run'], cwd: '/' });
    expect(() => lockFolder(dir, [])).toThrow(`${dir} is locked by headbench pid 1 on elsewhere, started 2025-01-01T00:00:00.000Z (headbench run); wait for that run, or if it is gone, delete ${path.join(dir, LOCK_FILE)}`);
    fs.writeFileSync(path.join(dir, LOCK_FILE), '');
    expect(() => lockFolder(dir, [])).toThrow('is being locked by another headbench run right now');
    fs.utimesSync(path.join(dir, LOCK_FILE), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const lock = lockFolder(dir, []);
    expect(lock.note).toMatch(/^took over the unreadable lock file .* \(60 s old\)$/);
    lock.release();
  });
});
