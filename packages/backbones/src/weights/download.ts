import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '@headbench/core';

export async function sha256File(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

export type DownloadResult = { ok: true; file: string; sha256: string; verified: boolean } | { ok: false; reason: string };

/**
 * Fetches `url` into `file`. A network or HTTP failure is a result (the caller explains what to
 * do instead); a file whose hash differs from `expectedSha256` is an error and is not kept. The
 * bytes land under a temporary name first, so an interrupted download never looks complete.
 */
export async function download(url: string, file: string, expectedSha256?: string): Promise<DownloadResult> {
  let bytes: Buffer;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(10 * 60_000) });
    if (!response.ok) return { ok: false, reason: `HTTP ${response.status} ${response.statusText}` };
    bytes = Buffer.from(await response.arrayBuffer());
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return { ok: false, reason: [(error as Error).message, cause?.code ?? cause?.message].filter(Boolean).join(': ') };
  }

  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (expectedSha256 && sha256 !== expectedSha256) {
    throw new UsageError(`${url} sent ${bytes.length} bytes with sha256 ${sha256}, not the published ${expectedSha256}; nothing was saved. Download it yourself and put it at ${file}`);
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
  return { ok: true, file, sha256, verified: expectedSha256 !== undefined };
}
