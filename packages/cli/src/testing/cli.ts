import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { cacheRoot } from '@headbench/engine/cache-root';
import { fileURLToPath } from 'node:url';

// The command as users run it: the built package, in a child process.
export const cliDir = fileURLToPath(new URL('../..', import.meta.url));
/**
 * HEADBENCH_CLI_BIN runs the tests against another build, say a checkout of main, to see a test
 * fail without the change it tests.
 */
export const bin = process.env['HEADBENCH_CLI_BIN'] ?? path.join(cliDir, 'bin', 'headbench.js');
export const packagesDir = path.dirname(cliDir);

/** Builds the CLI (and what it depends on) so that bin/headbench.js runs the current source. */
export function buildCli(): void {
  execFileSync(process.execPath, [createRequire(import.meta.url).resolve('typescript/bin/tsc'), '-b'], { cwd: cliDir, stdio: 'pipe' });
}

// libtensorflow 2.21 (the pip wheel's) logs two lines through absl as it loads, whatever
// TF_CPP_MIN_LOG_LEVEL says; they are TensorFlow's, not the CLI's, so they are set aside here.
const TF_NOTICES = [/^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$/, /^I\d{4} [\d:.]+ +\d+ port\.cc:\d+\] oneDNN custom operations are on/];

export interface Result {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stderr's lines without TensorFlow's. */
  errors: string[];
}

export interface RunAs {
  /** Kill the command (SIGKILL) after this long: for commands that might never end. */
  timeoutMs?: number;
  /** Run as this user (the test must run as root): for permission errors, which root never sees. */
  uid?: number;
  gid?: number;
}

/**
 * Makes sure this machine's kernel probe has run (its verdict in the user's cache folder), once
 * for the whole test run: vitest's globalSetup. The probe prints its two lines here, not in a
 * test's stderr.
 */
export function probeKernelsOnce(): void {
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', "await import('@headbench/engine')"], { cwd: cliDir, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, HEADBENCH_CACHE_DIR: '' } });
  if (result.status !== 0) throw new Error(`loading TensorFlow for the kernel probe failed (exit ${result.status ?? result.signal})`);
}

// The user's cache folder as the test run started, before a test points HOME or
// HEADBENCH_CACHE_DIR elsewhere.
const userKernels = path.join(cacheRoot(), 'kernels');

/**
 * A command that runs with another cache folder than the user's (a test's own
 * HEADBENCH_CACHE_DIR or HOME, or another user) gets the kernel probe's verdicts from the
 * user's cache, as a user whose verdict is already kept: else each fresh folder probes again
 * (15-45 s) and prints the probe's lines among the ones the test reads. The probe itself is
 * tested in @headbench/engine (onednn/policy.test.ts).
 */
function seedKernelVerdicts(env: NodeJS.ProcessEnv): void {
  const to = path.join(cacheRoot(env), 'kernels');
  if (to === userKernels || !fs.existsSync(userKernels)) return;
  for (const name of fs.readdirSync(userKernels).filter((n) => n.startsWith('onednn-') && n.endsWith('.json'))) {
    if (fs.existsSync(path.join(to, name))) continue;
    try {
      fs.mkdirSync(to, { recursive: true, mode: 0o755 });
      fs.copyFileSync(path.join(userKernels, name), path.join(to, name));
      fs.chmodSync(path.join(to, name), 0o644);
    } catch {
      // A cache folder the test made unwritable on purpose: the command finds that out itself.
    }
  }
}

const otherUserCaches = new Map<number, string>();
function otherUserCache(uid: number): string {
  let dir = otherUserCaches.get(uid);
  if (!dir) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `headbench-cache-uid${uid}-`));
    fs.chmodSync(dir, 0o777);
    otherUserCaches.set(uid, dir);
  }
  return dir;
}

/** Runs `headbench args...`; `onStart` gets the child, for tests that signal it. */
export function headbench(args: readonly string[], cwd = cliDir, onStart?: (child: ChildProcess) => void, as: RunAs = {}): Promise<Result> {
  const env: NodeJS.ProcessEnv = { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' };
  // Another user cannot read root's cache folder: it gets one of its own, kept for the run.
  if (as.uid !== undefined && !process.env['HEADBENCH_CACHE_DIR']) env['HEADBENCH_CACHE_DIR'] = otherUserCache(as.uid);
  seedKernelVerdicts(env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd,
      env,
      ...(as.uid !== undefined ? { uid: as.uid, gid: as.gid ?? as.uid } : {}),
    });
    const timer = as.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), as.timeoutMs) : undefined;
    child.on('close', () => clearTimeout(timer));
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status, signal) => {
      const errors = stderr.split('\n').filter((l) => l !== '' && !TF_NOTICES.some((re) => re.test(l)));
      resolve({ status, signal, stdout, stderr, errors });
    });
    onStart?.(child);
  });
}
