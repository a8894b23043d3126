import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileSystemError, systemErrorCode, UsageError } from '@headbench/errors';

/** The lock file a run keeps in its results folder while it writes there. */
export const LOCK_FILE = 'headbench.lock';

/** What the lock file says about the run that holds it. */
export interface LockInfo {
  pid: number;
  hostname: string;
  startedAt: string;
  argv: readonly string[];
  cwd: string;
}

export interface FolderLock {
  file: string;
  info: LockInfo;
  /** Set when a stale lock (its process gone) was taken over: one line for the user. */
  note?: string;
  /** Removes the lock file (if it is still this process's); safe to call more than once. */
  release(): void;
}

function readLock(file: string): LockInfo | 'unreadable' | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if (systemErrorCode(error) === 'ENOENT') return undefined;
    throw fileSystemError(error, 'read the lock file', file) ?? error;
  }
  try {
    const info = JSON.parse(text) as LockInfo;
    return Number.isInteger(info.pid) && typeof info.hostname === 'string' ? info : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

/** When a process started, from /proc (Linux); undefined where that cannot be read. */
function processStartMs(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses: field 22 is the start in clock ticks since boot.
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const bootSeconds = Number(/^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'))?.[1]);
    // USER_HZ is 100 on every Linux that Node runs on.
    return Number.isFinite(ticks) && Number.isFinite(bootSeconds) ? (bootSeconds + ticks / 100) * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the run that wrote `info` is still running on this host. A pid that exists but whose
 * process started after the lock was written is another program that got the number (after a
 * reboot, say): the lock is stale.
 */
function holderAlive(info: LockInfo): boolean {
  try {
    process.kill(info.pid, 0);
  } catch (error) {
    if (systemErrorCode(error) === 'ESRCH') return false;
  }
  const started = processStartMs(info.pid);
  const locked = Date.parse(info.startedAt);
  return !(started !== undefined && Number.isFinite(locked) && started > locked + 2000);
}

function describe(info: LockInfo): string {
  return `headbench pid ${info.pid} on ${info.hostname}, started ${info.startedAt} (headbench ${info.argv.join(' ')})`;
}

/**
 * Creates `file` holding `content`, or fails with EEXIST, atomically: the content is written to
 * a file of this process and hard-linked into place, so no other process ever reads the lock
 * empty. Where hard links are not supported, O_EXCL creation and a write.
 */
function createWithContent(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, content);
    fs.linkSync(tmp, file);
    return;
  } catch (error) {
    const code = systemErrorCode(error);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw error;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  const fd = fs.openSync(file, 'wx');
  try {
    fs.writeFileSync(fd, content);
  } catch (error) {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    throw error;
  }
  fs.closeSync(fd);
}

/**
 * Takes the lock of a results folder: `headbench.lock`, created atomically with the pid, host,
 * start time and command line in it. A second run on the folder is refused with the first's pid
 * and start time; a lock whose process is gone (on this host) is taken over, with a note. The
 * lock is removed by `release` and, failing that, when the process exits. `pid` names the
 * process the user started when that is not this one (a run's training process names the
 * process that watches it, which outlives it).
 */
export function lockFolder(dir: string, argv: readonly string[], pid = process.pid): FolderLock {
  const file = path.join(dir, LOCK_FILE);
  const info: LockInfo = { pid, hostname: os.hostname(), startedAt: new Date().toISOString(), argv: [...argv], cwd: process.cwd() };
  let note: string | undefined;
  const content = `${JSON.stringify(info, null, 2)}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      createWithContent(file, content);
    } catch (error) {
      if (systemErrorCode(error) !== 'EEXIST') throw fileSystemError(error, 'create the lock file', file) ?? error;
      const holder = readLock(file);
      if (holder === undefined) continue;
      if (holder === 'unreadable') {
        // Empty or torn: its writer died between creating and writing it, or is writing it now.
        const age = Date.now() - (fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0);
        if (age < 10_000) throw new UsageError(`${dir} is being locked by another headbench run right now (${file}); wait for it, or choose another --out`);
        note = `took over the unreadable lock file ${file} (${Math.round(age / 1000)} s old)`;
      } else if (holder.hostname !== os.hostname()) {
        throw new UsageError(`${dir} is locked by ${describe(holder)}; wait for that run, or if it is gone, delete ${file}`);
      } else if (holderAlive(holder)) {
        throw new UsageError(`${dir} is being written by ${describe(holder)}; wait for it to finish, or choose another --out`);
      } else {
        note = `took over the lock of ${dir}: ${describe(holder)} is no longer running`;
      }
      try {
        fs.rmSync(file, { force: true });
      } catch (error) {
        throw fileSystemError(error, 'remove the stale lock file', file) ?? error;
      }
      continue;
    }
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      process.removeListener('exit', release);
      try {
        const now = readLock(file);
        if (now !== undefined && now !== 'unreadable' && now.pid === info.pid && now.startedAt === info.startedAt) fs.rmSync(file, { force: true });
      } catch {
        // Exiting anyway; a lock left behind is taken over as stale by the next run.
      }
    };
    process.on('exit', release);
    return { file, info, ...(note ? { note } : {}), release };
  }
  throw new UsageError(`cannot lock ${dir}: ${file} keeps reappearing; another headbench run is starting there`);
}
