import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from './errors.js';
import { fileSystemError, makeFolder, writeFileAtomic } from './files.js';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-files-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** A system error as Node makes them (code, errno, syscall). */
function systemError(code: string, errno: number): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: something, write`), { code, errno, syscall: 'write' });
}

describe('fileSystemError', () => {
  it('says what the system said and what to do, in one line', () => {
    const cases = [
      ['ENOSPC', -28, 'cannot write /r/results.json: no space left on device (ENOSPC); free some space on that disk or write to another one'],
      ['EROFS', -30, 'cannot write /r/results.json: read-only file system (EROFS); that filesystem is mounted read-only: write to a writable disk'],
      ['EACCES', -13, 'cannot write /r/results.json: permission denied (EACCES); write to a folder you may write to, or change its permissions'],
    ] as const;
    for (const [code, errno, message] of cases) {
      const error = fileSystemError(systemError(code, errno), 'write', '/r/results.json');
      expect(error).toBeInstanceOf(UsageError);
      expect(error?.message).toBe(message);
    }
    // libuv has no name for EDQUOT: Node says "Unknown system error -122".
    const quota = Object.assign(new Error('Unknown system error -122: Unknown system error -122, write'), { code: 'Unknown system error -122', errno: -122 });
    expect(fileSystemError(quota, 'write', '/r')?.message).toBe('cannot write /r: disk quota exceeded (EDQUOT); free some of your disk quota or write to another disk');
    expect(fileSystemError(systemError('EACCES', -13), 'read', '/r/x.jpg')?.message).toBe('cannot read /r/x.jpg: permission denied (EACCES); make it readable (chmod) or run as a user who may read it');
  });

  it('leaves what is not a system error to be reported as a bug', () => {
    expect(fileSystemError(new TypeError('x is undefined'), 'write', '/r')).toBeUndefined();
    expect(fileSystemError(systemError('EWHATEVER', -9999), 'write', '/r')).toBeUndefined();
  });
});

describe('makeFolder', () => {
  it('makes nested folders, and is fine with ones that exist', () => {
    makeFolder(path.join(root, 'a/b/c'));
    makeFolder(path.join(root, 'a/b/c'));
    expect(fs.statSync(path.join(root, 'a/b/c')).isDirectory()).toBe(true);
  });

  it('names the file in the way', () => {
    fs.writeFileSync(path.join(root, 'f'), '');
    expect(() => makeFolder(path.join(root, 'f'))).toThrow(`cannot create folder ${path.join(root, 'f')}: a file of that name exists (EEXIST)`);
    expect(() => makeFolder(path.join(root, 'f/g/h'))).toThrow(`cannot create folder ${path.join(root, 'f/g/h')}: ${path.join(root, 'f')} is a file, not a folder (ENOTDIR)`);
    expect(() => makeFolder(path.join(root, 'x'.repeat(300)))).toThrow(/name too long \(ENAMETOOLONG\); choose a shorter path$/);
  });

  it.skipIf(process.platform !== 'linux')('fails at once under /proc, where Node\'s recursive mkdir loops forever', () => {
    expect(() => makeFolder('/proc/headbench/x')).toThrow('cannot create folder /proc/headbench: the system says "no such file or directory" although /proc exists');
  });
});

describe('writeFileAtomic', () => {
  it('replaces a file whole, and leaves no temporary file when it cannot', () => {
    const file = path.join(root, 'out/results.json');
    writeFileAtomic(file, 'one');
    writeFileAtomic(file, 'two');
    expect(fs.readFileSync(file, 'utf8')).toBe('two');
    const blocked = path.join(root, 'out/blocked.json');
    fs.mkdirSync(blocked);
    expect(() => writeFileAtomic(blocked, 'three')).toThrow(`cannot write ${blocked}: illegal operation on a directory (EISDIR)`);
    expect(fs.readdirSync(path.join(root, 'out')).sort()).toEqual(['blocked.json', 'results.json']);
  });
});
