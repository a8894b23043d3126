import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { decodeFileInto, RowWriteError, type Interpolation } from './decode.js';

export interface DecodeJob {
  /** The row of the cache file the image goes to. */
  row: number;
  file: string;
}

export interface WorkerSetup {
  pixelsFile: string;
  inputSize: number;
  interpolation: Interpolation;
}
export type WorkerMessage = { type: 'jobs'; jobs: DecodeJob[] } | { type: 'stop' };
export type WorkerReply =
  | { type: 'ready' }
  | { type: 'done'; count: number; skipped: { row: number; reason: string }[] }
  | { type: 'failed'; write: boolean; code: string | undefined; message: string };

export interface DecodeOptions extends WorkerSetup {
  jobs: readonly DecodeJob[];
  /** Decode threads; 0 decodes in this thread. Default: `decodeWorkers(jobs.length)`. */
  workers?: number;
  onProgress?: (done: number) => void;
}

/**
 * Below this many images, starting workers (each loads TensorFlow: 3-4 s on a loaded 2-core
 * machine, docs/performance.md "Decoding") costs more than it saves.
 */
export const WORKER_THRESHOLD = 1000;

/** How many decode threads a folder of `images` gets: none for small ones, one per core otherwise. */
export function decodeWorkers(images: number): number {
  const fromEnv = process.env['HEADBENCH_DECODE_WORKERS'];
  if (fromEnv !== undefined && /^\d+$/.test(fromEnv)) return Number(fromEnv);
  return images < WORKER_THRESHOLD ? 0 : Math.min(os.availableParallelism(), 4);
}

/** The worker's built JavaScript; tests run this package from source, and use the build beside it. */
function workerScript(): string {
  const url = import.meta.url.endsWith('.ts') ? new URL('../dist/decode-worker.js', import.meta.url) : new URL('./decode-worker.js', import.meta.url);
  const file = fileURLToPath(url);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: build @headbench/data (npm run build) so that decode workers can start`);
  return file;
}

/**
 * Decodes `jobs` into rows of `pixelsFile` (which must exist, sized for every row) and resolves
 * with the skipped rows and why. A row that cannot be written (a full disk) rejects with a
 * RowWriteError once the workers have stopped.
 */
export async function decodeInto(options: DecodeOptions): Promise<Map<number, string>> {
  const workers = Math.min(options.workers ?? decodeWorkers(options.jobs.length), options.jobs.length);
  return workers > 0 ? decodeInWorkers(options, workers) : decodeHere(options);
}

async function decodeHere(options: DecodeOptions): Promise<Map<number, string>> {
  const skipped = new Map<number, string>();
  const fd = fs.openSync(options.pixelsFile, 'r+');
  try {
    let lastYield = performance.now();
    for (let i = 0; i < options.jobs.length; i++) {
      const job = options.jobs[i] as DecodeJob;
      const reason = decodeFileInto(job.file, fd, job.row, options.inputSize, options.interpolation);
      if (reason !== undefined) skipped.set(job.row, reason);
      // Let progress redraws and Ctrl-C in, every 50 ms.
      if (performance.now() - lastYield > 50 || i === options.jobs.length - 1) {
        options.onProgress?.(i + 1);
        await new Promise<void>((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return skipped;
}

const CHUNK = 8;

function decodeInWorkers(options: DecodeOptions, count: number): Promise<Map<number, string>> {
  const script = workerScript();
  const setup: WorkerSetup = { pixelsFile: options.pixelsFile, inputSize: options.inputSize, interpolation: options.interpolation };
  const skipped = new Map<number, string>();
  const jobs = options.jobs;
  let next = 0;
  let done = 0;
  let failure: Error | undefined;
  return new Promise((resolve, reject) => {
    const pool: Worker[] = [];
    let exited = 0;
    const finish = () => {
      for (const worker of pool) worker.postMessage({ type: 'stop' } satisfies WorkerMessage);
    };
    const give = (worker: Worker) => {
      if (failure || next >= jobs.length) return;
      worker.postMessage({ type: 'jobs', jobs: jobs.slice(next, next + CHUNK) } satisfies WorkerMessage);
      next += CHUNK;
    };
    for (let w = 0; w < count; w++) {
      // Not this process's flags: a test runner's `--conditions` would point the worker at TypeScript sources.
      const worker = new Worker(script, { workerData: setup, execArgv: [] });
      pool.push(worker);
      worker.on('message', (reply: WorkerReply) => {
        if (reply.type === 'ready') {
          // Two chunks each: the next is queued while one decodes.
          give(worker);
          give(worker);
        } else if (reply.type === 'done') {
          done += reply.count;
          for (const s of reply.skipped) skipped.set(s.row, s.reason);
          options.onProgress?.(done);
          if (done === jobs.length) finish();
          else give(worker);
        } else {
          failure ??= reply.write ? new RowWriteError(reply.code, reply.message) : new Error(reply.message);
          finish();
        }
      });
      worker.on('error', (error) => {
        failure ??= error;
        finish();
      });
      worker.on('exit', () => {
        exited += 1;
        if (exited < count) return;
        if (failure) reject(failure);
        else if (done < jobs.length) reject(new Error(`decode workers stopped after ${done} of ${jobs.length} images`));
        else resolve(skipped);
      });
    }
  });
}
