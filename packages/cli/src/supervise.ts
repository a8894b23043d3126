import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeSignal, FAULT_SIGNALS } from '@headbench/engine/signals';

/**
 * `headbench run` trains in a child process that this one watches, so that TensorFlow dying in
 * native code (a SIGFPE inside oneDNN, a segfault in a plugin's kernel) costs one combination, not
 * the run: the child says which combination it starts; if it dies by a fault signal, a new child
 * continues the same run in the same folder, where that combination becomes an error row naming
 * the signal and the others train. This process loads no TensorFlow (it would only take memory).
 * HEADBENCH_RUN_WORKER marks the child; HEADBENCH_RUN_CONTINUE carries what the next one needs.
 */

/** What the next training process continues: the folder, and every combination that died so far. */
export interface Continuation {
  outDir: string;
  crashed: { id: string; signal: string }[];
}

/** A training process's message to this one (process.send). */
export type WorkerMessage = { type: 'combination'; id: string; outDir: string };

export const WORKER_ENV = 'HEADBENCH_RUN_WORKER';
export const CONTINUE_ENV = 'HEADBENCH_RUN_CONTINUE';

/** In a training process: the continuation this one was started with, if any. */
export function continuation(env: NodeJS.ProcessEnv = process.env): Continuation | undefined {
  const text = env[CONTINUE_ENV];
  return text ? (JSON.parse(text) as Continuation) : undefined;
}

/** Whether this is a training process that a `headbench run` process watches. */
export function watched(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[WORKER_ENV] === '1' && typeof process.send === 'function';
}

/** In a training process: tells the watching process which combination starts now. */
export function announce(message: WorkerMessage): void {
  process.send?.(message);
}

/** Signals that stop a run on purpose: passed on to the training process. */
const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

const BIN = fileURLToPath(new URL('../bin/headbench.js', import.meta.url));

/**
 * Removes the dead child's lock from `outDir` (it can no longer release it itself): the lock
 * names this process, which the user started and may wait for or stop.
 */
function releaseDeadLock(outDir: string, pid: number): void {
  const file = path.join(outDir, 'headbench.lock');
  try {
    if ((JSON.parse(fs.readFileSync(file, 'utf8')) as { pid?: unknown }).pid === pid) fs.rmSync(file, { force: true });
  } catch {
    // No lock, or not this child's: the next process deals with it as usual.
  }
}

/** Runs `headbench <argv>` as training processes until one ends on its own; returns the exit code. */
export async function superviseRun(argv: readonly string[], log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Promise<number> {
  const crashed: Continuation['crashed'] = [];
  let outDir: string | undefined;
  for (;;) {
    let running: string | undefined;
    const env = { ...process.env, [WORKER_ENV]: '1', ...(outDir ? { [CONTINUE_ENV]: JSON.stringify({ outDir, crashed } satisfies Continuation) } : {}) };
    // In a process group of its own, so that Ctrl-C reaches it once, from here: it stops, keeps
    // every finished row and exits 130.
    const child = fork(BIN, [...argv], { env, stdio: 'inherit', detached: true });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    for (const name of STOP_SIGNALS) process.on(name, forward);
    child.on('message', (message: WorkerMessage) => {
      if (message.type !== 'combination') return;
      running = message.id;
      outDir = message.outDir;
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    for (const name of STOP_SIGNALS) process.removeListener(name, forward);
    if (!signal) return code ?? 1;
    if (signal === 'SIGINT') return 130;
    if (!FAULT_SIGNALS.includes(signal)) {
      // Killed from outside: most often SIGKILL from the kernel's out-of-memory killer.
      const where = running && outDir ? ` while ${running} trained; the finished rows are kept: continue with --resume --out ${outDir}` : ' before any combination started';
      log(`headbench: the training process was killed by ${signal}${signal === 'SIGKILL' ? " (often the kernel's out-of-memory killer: see dmesg, and lower --memory-budget or --batch-size)" : ''}${where}`);
      return 1;
    }
    if (!running || !outDir) {
      log(`headbench: TensorFlow died in native code with ${describeSignal(signal)} before any combination started; rerun with --verbose, or with TF_ENABLE_ONEDNN_OPTS=0 to use TensorFlow's own kernels`);
      return 1;
    }
    crashed.push({ id: running, signal });
    releaseDeadLock(outDir, process.pid);
    log(`headbench: TensorFlow died in native code with ${describeSignal(signal)} while ${running} trained; it becomes an error row and the run goes on in a new process`);
  }
}
