import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { UsageError } from '@headbench/core';

export async function sha256File(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

/**
 * The algorithm of a hash as Keras' `get_file(file_hash=...)` decides it (`hash_algorithm="auto"`):
 * 64 hex digits are sha256, anything else md5. Keras Applications records md5 for most files.
 */
export function hashAlgorithm(hash: string): 'sha256' | 'md5' {
  return hash.length === 64 ? 'sha256' : 'md5';
}

export async function hashFile(file: string, algorithm: 'sha256' | 'md5'): Promise<string> {
  return createHash(algorithm).update(await readFile(file)).digest('hex');
}

export type DownloadResult = { ok: true; file: string; sha256: string; verified: boolean } | { ok: false; reason: string };

export interface DownloadOptions {
  /** The published hash (sha256 or md5, as Keras records it); a file that differs is not kept. */
  expectedHash?: string;
  /** Where progress goes; a bar on a terminal, a line per 10% elsewhere. Undefined: silent. */
  progress?: NodeJS.WriteStream;
  /** What is being downloaded, for the progress line. */
  label?: string;
}

/**
 * Fetches `url` into `file`. A network or HTTP failure is a result (the caller explains what to
 * do instead); a file whose hash differs from the expected one is an error and is not kept. The
 * bytes land under a temporary name first, so an interrupted download never looks complete.
 */
export async function download(url: string, file: string, options: DownloadOptions | string = {}): Promise<DownloadResult> {
  const { expectedHash, progress, label = path.basename(file) } = typeof options === 'string' ? { expectedHash: options } : options;
  let bytes: Buffer;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(10 * 60_000) });
    if (!response.ok || !response.body) return { ok: false, reason: `HTTP ${response.status} ${response.statusText}` };
    bytes = await readBody(response, progress, label);
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return { ok: false, reason: [(error as Error).message, cause?.code ?? cause?.message].filter(Boolean).join(': ') };
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (expectedHash) {
    const algorithm = hashAlgorithm(expectedHash);
    const actual = algorithm === 'sha256' ? sha256 : createHash('md5').update(bytes).digest('hex');
    if (actual !== expectedHash) {
      throw new UsageError(`${url} sent ${bytes.length} bytes with ${algorithm} ${actual}, not the published ${expectedHash}; nothing was saved. Download it yourself and put it at ${file}`);
    }
  }
  const partial = `${file}.${process.pid}.part`;
  try {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(partial, bytes);
    await rename(partial, file);
  } catch (error) {
    await rm(partial, { force: true });
    throw new UsageError(`cannot save ${url} to ${file}: ${(error as Error).message}; set HEADBENCH_WEIGHTS_DIR to a writable folder`);
  }
  return { ok: true, file, sha256, verified: expectedHash !== undefined };
}

async function readBody(response: Response, progress: NodeJS.WriteStream | undefined, label: string): Promise<Buffer> {
  const total = Number(response.headers.get('content-length')) || 0;
  const chunks: Buffer[] = [];
  let received = 0;
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const bar =
    progress?.isTTY && total
      ? new cliProgress.SingleBar({ stream: progress, format: `downloading ${label} [{bar}] {percentage}% {got}/{all} MB`, hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic)
      : undefined;
  bar?.start(total, 0, { got: mb(0), all: mb(total) });
  let nextTenth = 1;
  if (progress && !bar) progress.write(`downloading ${label} (${total ? `${mb(total)} MB` : 'size unknown'})\n`);
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      chunks.push(Buffer.from(chunk));
      received += chunk.byteLength;
      bar?.update(received, { got: mb(received), all: mb(total) });
      if (progress && !bar && total) {
        while (received >= (nextTenth * total) / 10 && nextTenth <= 10) progress.write(`  ${label}: ${nextTenth++ * 10}% (${mb(received)} MB)\n`);
      }
    }
  } finally {
    bar?.stop();
  }
  return Buffer.concat(chunks);
}
