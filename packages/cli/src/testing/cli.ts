import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
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

/** Runs `headbench args...`; `onStart` gets the child, for tests that signal it. */
export function headbench(args: readonly string[], cwd = cliDir, onStart?: (child: ChildProcess) => void, as: RunAs = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd,
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
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
