import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// The command as users run it: the built package, in a child process.
export const cliDir = fileURLToPath(new URL('../..', import.meta.url));
export const bin = path.join(cliDir, 'bin', 'headbench.js');
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

/** Runs `headbench args...`; `onStart` gets the child, for tests that signal it. */
export function headbench(args: readonly string[], cwd = cliDir, onStart?: (child: ChildProcess) => void): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd, env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
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
