// @ts-check
// Loads @tensorflow/tfjs-node in a child process: a broken addon can abort the process
// (missing symbol, wrong library), and the installer must survive to try the next route.
import { spawn } from 'node:child_process';

const PROBE_SOURCE = `
const tf = require('@tensorflow/tfjs-node');
const backend = tf.getBackend();
if (backend !== 'tensorflow') throw new Error('backend is ' + backend + ', expected tensorflow');
const y = tf.conv2d(tf.ones([1, 4, 4, 1]), tf.ones([2, 2, 1, 1]), 1, 'valid');
const v = y.dataSync()[0];
if (v !== 4) throw new Error('a 2x2 convolution of ones gave ' + v + ', expected 4');
process.stdout.write(JSON.stringify({ backend, tfjsNode: tf.version['tfjs-node'], libtensorflow: tf.backend().binding.TF_Version }));
`;

/**
 * @param {string} cwd  a folder from which `require('@tensorflow/tfjs-node')` resolves
 * @param {{ timeoutMs?: number }} [options]
 * @returns {Promise<import('./provisioner.mjs').ProbeResult>}
 */
export function probeRuntime(cwd, { timeoutMs = 120_000 } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', PROBE_SOURCE], {
      cwd,
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', (e) => resolve({ ok: false, reason: e.message }));
    child.on('close', (code, signal) => {
      if (code === 0) {
        try {
          const info = JSON.parse(out);
          resolve({ ok: true, detail: `backend ${info.backend}, tfjs-node ${info.tfjsNode}, libtensorflow ${info.libtensorflow}` });
        } catch {
          resolve({ ok: false, reason: `unexpected probe output: ${out.slice(0, 200)}` });
        }
        return;
      }
      resolve({ ok: false, reason: summarizeLoadError(err, code, signal) });
    });
  });
}

/**
 * Turns a Node stack trace into the one line that says why the addon did not load.
 * @param {string} stderr @param {number | null} code @param {NodeJS.Signals | null} signal
 */
export function summarizeLoadError(stderr, code, signal) {
  if (signal) return `the probe process was killed by ${signal}`;
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const interesting =
    lines.find((l) => /^\w*Error: /.test(l)) ??
    lines.find((l) => /cannot open shared object|undefined symbol|Cannot find module/.test(l) && !l.startsWith('at ')) ??
    lines.find((l) => !l.startsWith('at ') && !l.startsWith('Node.js') && !/^[\^~\s]*$/.test(l));
  return (interesting ?? `exit code ${code}`).slice(0, 400);
}
