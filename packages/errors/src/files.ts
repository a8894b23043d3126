import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import util from 'node:util';
import { UsageError } from './errors.js';

/** What to do about each error code the system gives for a file or folder headbench writes. */
const ADVICE: Record<string, string> = {
  ENOSPC: 'free some space on that disk or write to another one',
  EDQUOT: 'free some of your disk quota or write to another disk',
  EFBIG: 'the file is larger than that filesystem takes: write to another disk',
  EROFS: 'that filesystem is mounted read-only: write to a writable disk',
  EACCES: 'write to a folder you may write to, or change its permissions',
  EPERM: 'write to a folder you may write to, or change its permissions',
  EEXIST: 'a file is in the way: move it or choose another name',
  ENOTDIR: 'part of the path is a file, not a folder: choose another path',
  EISDIR: 'a folder is in the way where a file is needed: move it or choose another name',
  ENAMETOOLONG: 'choose a shorter path',
  ELOOP: 'a symbolic link in the path leads in a circle: fix the link or choose another path',
  ENOENT: 'a folder of the path does not exist (or was removed meanwhile)',
  EIO: 'the disk reported an input/output error: check it, or write to another one',
  EMFILE: 'too many open files: raise the limit (ulimit -n) or close other programs',
  ENFILE: 'too many open files on the system: close other programs',
  EBUSY: 'the file is in use: try again, or choose another name',
  ETXTBSY: 'the file is in use: try again, or choose another name',
};

/** Where reading, not writing, failed, the advice differs for these. */
const READ_ADVICE: Record<string, string> = {
  EACCES: 'make it readable (chmod) or run as a user who may read it',
  EPERM: 'make it readable (chmod) or run as a user who may read it',
  ENOENT: 'it does not exist (or was removed meanwhile)',
};

/** The system's error code of a failed file operation (`ENOSPC`, ...), if it is one. */
export function systemErrorCode(error: unknown): string | undefined {
  const { code, errno } = (error ?? {}) as { code?: unknown; errno?: unknown };
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
  // Codes libuv has no name for (EDQUOT on Linux) arrive as "Unknown system error -122".
  if (typeof errno === 'number') return Object.entries(os.constants.errno).find(([, n]) => n === -errno)?.[0];
  return undefined;
}

/** Words for codes that libuv's table lacks. */
const WORDS: Record<string, string> = { EDQUOT: 'disk quota exceeded' };

/** What the system says for a code, in its words ("no space left on device"). */
function systemWords(error: unknown, code: string): string {
  const errno = (error as { errno?: unknown }).errno;
  const fromMap = (typeof errno === 'number' ? util.getSystemErrorMap().get(errno)?.[1] : undefined) ?? WORDS[code];
  if (fromMap) return fromMap;
  // Without an errno: Node's message is "CODE: words, syscall 'path'".
  const message = error instanceof Error ? error.message : String(error);
  return new RegExp(`^${code}: ([^,]+)`).exec(message)?.[1] ?? code;
}

/** A failed file operation in the system's words and code (`no such file or directory (ENOENT)`), else its message. */
export function describeSystemError(error: unknown): string {
  const code = systemErrorCode(error);
  return code ? `${systemWords(error, code)} (${code})` : error instanceof Error ? error.message : String(error);
}

/**
 * A filesystem failure as a user error: one line with the path, what the system said in words
 * and what to do (`cannot write /x/results.json: no space left on device (ENOSPC); free some
 * space ...`). Undefined for anything that is not a known system error, which stays a bug.
 */
export function fileSystemError(error: unknown, action: string, file: string): UsageError | undefined {
  if (error instanceof UsageError) return error;
  const code = systemErrorCode(error);
  const advice = code ? ((/^read/.test(action) ? READ_ADVICE[code] : undefined) ?? ADVICE[code]) : undefined;
  if (!code || !advice) return undefined;
  return new UsageError(`cannot ${action} ${file}: ${systemWords(error, code)} (${code}); ${advice}`, { cause: error });
}

/** Runs a file operation and turns a system error into a `UsageError` that names `file`. */
export function explainFileErrors<T>(action: string, file: string, operation: () => T): T {
  try {
    return operation();
  } catch (error) {
    throw fileSystemError(error, action, file) ?? error;
  }
}

function statOrCode(p: string, target: string): fs.Stats | string {
  try {
    return fs.statSync(p);
  } catch (error) {
    const code = systemErrorCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return code;
    throw fileSystemError(error, 'create folder', target) ?? error;
  }
}

/**
 * `mkdir -p`, one folder at a time from the nearest existing one down, so every failure names
 * the folder that could not be made and nothing loops. Returns the folders it made, outermost first. (Node's recursive mkdir retries forever
 * where mkdir says ENOENT although the parent exists, as under /proc.)
 */
export function makeFolder(dir: string): string[] {
  const target = path.resolve(dir);
  const missing: string[] = [];
  for (let at = target; ; at = path.dirname(at)) {
    const stat = statOrCode(at, target);
    if (typeof stat !== 'string') {
      if (stat.isDirectory()) break;
      if (at === target) throw new UsageError(`cannot create folder ${target}: a file of that name exists (EEXIST); choose another folder, or move the file away`);
      throw new UsageError(`cannot create folder ${target}: ${at} is a file, not a folder (ENOTDIR); choose a path under a folder`);
    }
    if (path.dirname(at) === at) throw new UsageError(`cannot create folder ${target}: its root ${at} does not exist`);
    missing.push(at);
  }
  const made: string[] = [];
  for (const folder of missing.reverse()) {
    try {
      fs.mkdirSync(folder);
      made.push(folder);
    } catch (error) {
      const code = systemErrorCode(error);
      // Made meanwhile by another process: fine.
      if (code === 'EEXIST' && fs.statSync(folder, { throwIfNoEntry: false })?.isDirectory()) continue;
      if (code === 'ENOENT') {
        throw new UsageError(
          `cannot create folder ${folder}: the system says "${systemWords(error, code)}" although ${path.dirname(folder)} exists ` +
            '(a virtual filesystem such as /proc or /sys takes no new folders); choose a folder on a disk',
          { cause: error },
        );
      }
      throw fileSystemError(error, 'create folder', folder) ?? error;
    }
  }
  return made;
}

/**
 * Writes through a temporary file, fsync and a rename, so a crash or a full disk mid-write never
 * leaves a torn file: `file` holds either its old content or the new. The temporary file is
 * removed when anything fails.
 */
export function writeFileAtomic(file: string, content: string | Uint8Array): void {
  makeFolder(path.dirname(file));
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeFileSync(fd, content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (error) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // The first error is the one to report.
    }
    throw fileSystemError(error, 'write', file) ?? error;
  }
}
