// @ts-check
// TensorFlow's pip wheel carries the same C library as the libtensorflow tarball
// (libtensorflow_cc.so.2 exports TF_* and TFE_*). This takes only that and the C API headers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { run } from './libtensorflow.mjs';

export const DEFAULT_WHEEL_SPEC = 'tensorflow-cpu==2.21.0';

const LIBRARIES = ['tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2'];
// The C API headers and what they include (checked with `g++ -M` on c_api.h and eager/c_api.h).
const HEADER_PREFIXES = ['tensorflow/c/', 'tensorflow/core/platform/', 'tsl/platform/', 'xla/tsl/c/'];
const INCLUDE_ROOT = 'tensorflow/include/';

/**
 * Maps a member of the wheel to where it goes in the extracted libtensorflow, or undefined.
 * @param {string} member
 */
export function destinationOf(member) {
  if (LIBRARIES.includes(member)) return path.posix.join('lib', path.posix.basename(member));
  if (!member.startsWith(INCLUDE_ROOT) || !member.endsWith('.h')) return undefined;
  const header = member.slice(INCLUDE_ROOT.length);
  return HEADER_PREFIXES.some((p) => header.startsWith(p)) ? path.posix.join('include', header) : undefined;
}

/**
 * `pip download --no-deps` with pip's own configuration (index, proxies, find-links), and
 * without retrying an unreachable index for minutes.
 * @param {{ spec: string, python: string, dir: string, env: NodeJS.ProcessEnv }} options
 * @returns {Promise<string>} the wheel's path
 */
export async function downloadWheel({ spec, python, dir, env }) {
  fs.mkdirSync(dir, { recursive: true });
  await run(python, ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--disable-pip-version-check', '-d', dir, spec], {
    env: { PIP_RETRIES: '0', PIP_TIMEOUT: '5', ...env },
    timeoutMs: 20 * 60_000,
  });
  const wheel = fs.readdirSync(dir).find((n) => n.endsWith('.whl') && /^tensorflow/.test(n));
  if (!wheel) throw new Error(`pip download finished but left no TensorFlow wheel in ${dir}`);
  return path.join(dir, wheel);
}

/** The cache id of a wheel: its file name without `.whl`. @param {string} wheelPath */
export function wheelId(wheelPath) {
  return path.basename(wheelPath).replace(/\.whl$/, '');
}

/**
 * Extracts the libraries and headers into `destination` (which must not exist yet), through a
 * temporary folder renamed at the end, so an interrupted extraction never looks complete.
 * @param {string} wheelPath @param {string} destination
 * @param {(line: string) => void} log
 */
export async function extractLibTensorflow(wheelPath, destination, log) {
  const partial = `${destination}.partial-${process.pid}`;
  fs.rmSync(partial, { recursive: true, force: true });
  const zip = await openZip(wheelPath);
  try {
    const entries = await listEntries(zip);
    const wanted = entries.filter((e) => destinationOf(e.fileName));
    const missing = LIBRARIES.filter((l) => !wanted.some((e) => e.fileName === l));
    if (missing.length) throw new Error(`${path.basename(wheelPath)} has no ${missing.join(' or ')}; is it a TensorFlow 2.x wheel for Linux?`);
    const total = wanted.reduce((sum, e) => sum + e.uncompressedSize, 0);
    log(`extracting ${wanted.length} files (${mb(total)}) from ${path.basename(wheelPath)}`);
    let done = 0;
    let reported = 0;
    for (const entry of wanted) {
      const target = path.join(partial, /** @type {string} */ (destinationOf(entry.fileName)));
      fs.mkdirSync(path.dirname(target), { recursive: true });
      const stream = await openEntry(zip, entry);
      stream.on('data', (/** @type {Buffer} */ chunk) => {
        done += chunk.length;
        if (done - reported >= total / 10) {
          reported = done;
          log(`  ${Math.round((100 * done) / total)}% (${mb(done)} of ${mb(total)})`);
        }
      });
      await pipeline(stream, fs.createWriteStream(target, { mode: 0o755 }));
    }
  } finally {
    zip.close();
  }
  fs.mkdirSync(path.dirname(destination), { recursive: true });
  fs.writeFileSync(path.join(partial, 'SOURCE.json'), JSON.stringify({ wheel: path.basename(wheelPath), extractedAt: new Date().toISOString(), host: os.hostname() }, null, 2));
  fs.renameSync(partial, destination);
}

/** @param {number} bytes */
function mb(bytes) {
  return `${(bytes / 1e6).toFixed(0)} MB`;
}

/** @param {string} file @returns {Promise<yauzl.ZipFile>} */
function openZip(file) {
  return new Promise((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, autoClose: false }, (err, zip) => (err ? reject(err) : resolve(zip))),
  );
}

/** @param {yauzl.ZipFile} zip @returns {Promise<yauzl.Entry[]>} */
function listEntries(zip) {
  return new Promise((resolve, reject) => {
    /** @type {yauzl.Entry[]} */
    const entries = [];
    zip.on('entry', (entry) => {
      entries.push(entry);
      zip.readEntry();
    });
    zip.on('end', () => resolve(entries));
    zip.on('error', reject);
    zip.readEntry();
  });
}

/** @param {yauzl.ZipFile} zip @param {yauzl.Entry} entry @returns {Promise<NodeJS.ReadableStream & import('node:stream').Readable>} */
function openEntry(zip, entry) {
  return new Promise((resolve, reject) => zip.openReadStream(entry, (err, stream) => (err ? reject(err) : resolve(stream))));
}
