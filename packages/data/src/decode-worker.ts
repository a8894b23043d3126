// A decode worker (worker_threads): loads its own TensorFlow (tfjs-node 4.22 keeps one backend
// per thread) and runs the same decodeFileInto as the main thread, writing rows straight into
// the cache file, so only row numbers and skip reasons travel back.
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { decodeFileInto, RowWriteError } from './decode.js';
import type { WorkerMessage, WorkerReply, WorkerSetup } from './decode-pool.js';

const setup = workerData as WorkerSetup;
const port = parentPort;
if (!port) throw new Error('decode-worker.js runs as a worker thread of the decode pool');
const fd = fs.openSync(setup.pixelsFile, 'r+');
const reply = (m: WorkerReply) => port.postMessage(m);

port.on('message', (message: WorkerMessage) => {
  if (message.type === 'stop') {
    fs.closeSync(fd);
    port.close();
    return;
  }
  const skipped: { row: number; reason: string }[] = [];
  try {
    for (const job of message.jobs) {
      const reason = decodeFileInto(job.file, fd, job.row, setup.inputSize, setup.interpolation);
      if (reason !== undefined) skipped.push({ row: job.row, reason });
    }
    reply({ type: 'done', count: message.jobs.length, skipped });
  } catch (error) {
    reply({ type: 'failed', code: error instanceof RowWriteError ? error.code : undefined, write: error instanceof RowWriteError, message: error instanceof Error ? error.message : String(error) });
  }
});
reply({ type: 'ready' });
