import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { cacheRoot } from '@headbench/engine';
import { UsageError } from '@headbench/errors';
import type { DatasetEvent } from './dataset.js';
import { decoderIdentity, type Interpolation } from './decode.js';
import { decodeInto, decodeWorkers, type DecodeJob } from './decode-pool.js';

/**
 * The decode cache: for each image folder, input size and interpolation, one folder under
 * `<headbench cache>/images/` holding `pixels.u8` (one uint8 row per listed file, in listing
 * order) and `manifest.json` (what was decoded, from which files, by which decoder). It is built
 * in a `.partial-` folder and renamed into place only when complete, the manifest written last,
 * so a crash or a full disk never leaves a cache that a later run reads.
 */
export const CACHE_FORMAT = 'headbench/image-cache';
/** Bump when the bytes of a row or the manifest change meaning; older caches are decoded again. */
export const CACHE_VERSION = 1;
const MANIFEST = 'manifest.json';
const PIXELS = 'pixels.u8';

// The headbench cache folder, as `tools/runtime/cache.mjs` finds it for the native runtime.
export { cacheRoot };

/** Where decoded images are kept: beside, never mixed with, the runtime's files. */
export function imageCacheDir(root: string = cacheRoot()): string {
  return path.join(root, 'images');
}

/** A listed image file as the cache keys it. */
export interface FileStamp {
  /** Path relative to the folder, with `/`. */
  rel: string;
  size: number;
  mtimeMs: number;
  /** Permission bits: a file made readable again is decoded again. */
  mode: number;
}

type StampTuple = [rel: string, size: number, mtimeMs: number, mode: number];

export interface CacheManifest {
  format: typeof CACHE_FORMAT;
  version: number;
  decoder: string;
  folder: string;
  inputSize: number;
  interpolation: Interpolation;
  rowBytes: number;
  images: number;
  files: StampTuple[];
  /** Rows of files that did not read or decode (their rows are zeros), with TensorFlow's reason. */
  skipped: [row: number, reason: string][];
  createdAt: string;
  decodeSeconds: number;
  decoded: number;
  reused: number;
}

export interface CachedFolder {
  dir: string;
  pixelsFile: string;
  manifest: CacheManifest;
  /** Size of the rows file. */
  bytes: number;
  skipped: Map<number, string>;
}

export interface CacheRequest {
  /** The folder's real path. */
  folder: string;
  files: readonly FileStamp[];
  inputSize: number;
  interpolation: Interpolation;
  /** The headbench cache folder (default `cacheRoot()`). */
  root?: string;
  /** Decode threads; default by folder size (`decodeWorkers`). */
  workers?: number;
  onEvent?: (event: DatasetEvent) => void;
}

function entryName(folder: string, inputSize: number, interpolation: Interpolation): string {
  const slug = path.basename(folder).replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 40) || 'root';
  const hash = createHash('sha256').update(folder).digest('hex').slice(0, 12);
  return `${slug}-${hash}-${inputSize}px-${interpolation}`;
}

/** `n` bytes for people: 2.30 GB, 61 MB. */
export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(n >= 1e10 ? 1 : 2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} kB`;
  return `${n} B`;
}

/**
 * A cache entry's manifest (image or feature cache): undefined where there is none yet, or why it
 * cannot be read (not JSON, another cache's format).
 */
export function readManifestIn<M>(dir: string, format: string, what: string): M | { unreadable: string } | undefined {
  const file = path.join(dir, MANIFEST);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : { unreadable: (error as Error).message };
  }
  try {
    const m = JSON.parse(text) as { format?: unknown };
    if (m.format !== format) return { unreadable: `${file} is not a headbench ${what} manifest` };
    return m as M;
  } catch (error) {
    return { unreadable: `${file} is not valid JSON (${(error as Error).message})` };
  }
}

const readManifest = (dir: string) => readManifestIn<CacheManifest>(dir, CACHE_FORMAT, 'image cache');

function sameStamp(a: StampTuple | undefined, b: FileStamp): boolean {
  return !!a && a[0] === b.rel && a[1] === b.size && a[2] === b.mtimeMs && a[3] === b.mode;
}

/** Why a cache cannot serve this request, or undefined when it can. */
function staleness(m: CacheManifest, dir: string, request: CacheRequest, decoder: string): string | undefined {
  if (m.version !== CACHE_VERSION) return `it was written by image cache format ${m.version} (another headbench version; this one writes format ${CACHE_VERSION})`;
  if (m.decoder !== decoder) return `it was decoded by ${m.decoder.split(' decode_image')[0]}, this run decodes with ${decoder.split(' decode_image')[0]}`;
  const expected = m.images * m.rowBytes;
  const size = fs.statSync(path.join(dir, PIXELS), { throwIfNoEntry: false })?.size;
  if (size !== expected) return `its ${PIXELS} has ${size ?? 'no'} bytes where the manifest says ${expected}`;
  const files = request.files;
  if (m.files.length === files.length && files.every((f, i) => sameStamp(m.files[i], f))) return undefined;
  const before = new Map(m.files.map((t) => [t[0], t]));
  let added = 0;
  let changed = 0;
  for (const f of files) {
    const old = before.get(f.rel);
    if (!old) added += 1;
    else if (!sameStamp(old, f)) changed += 1;
  }
  const now = new Set(files.map((f) => f.rel));
  const removed = m.files.filter((t) => !now.has(t[0])).length;
  return `the folder changed since it was cached (${added} added, ${removed} removed, ${changed} changed)`;
}

/** mkdir -p one level at a time: a recursive mkdirSync reports ENOENT where the real error is EROFS or EACCES. */
export function makeDir(dir: string): void {
  if (fs.existsSync(dir)) return;
  makeDir(path.dirname(dir));
  try {
    fs.mkdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

/** The process that is writing (or replacing) an entry, from its folder name; undefined for a published entry. */
export function writer(name: string): number | undefined {
  const m = /\.(?:partial|stale)-(\d+)-/.exec(name);
  return m ? Number(m[1]) : undefined;
}

export function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Folders left by runs that stopped while writing (their process is gone). */
export function removeAbandoned(imagesDir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(imagesDir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = writer(name);
    if (pid !== undefined && !alive(pid)) fs.rmSync(path.join(imagesDir, name), { recursive: true, force: true });
  }
}

export function cacheWriteError(error: unknown, imagesDir: string, needed: number, what = 'image cache'): Error {
  const code = (error as { code?: string }).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new UsageError(
      `the ${what} in ${imagesDir} ran out of disk space (it needs ${formatBytes(needed)}); nothing half-written was kept. ` +
        'Free space there, clear old caches (headbench cache clear) or set HEADBENCH_CACHE_DIR to a disk with room',
    );
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new UsageError(`cannot write the ${what} in ${imagesDir} (${code}); set HEADBENCH_CACHE_DIR to a writable folder`);
  }
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * The cache of `request.folder` at one size: found complete and current (nothing decoded), or
 * built now, reusing the rows of files unchanged since an earlier cache of the same folder.
 */
export async function cachedFolder(request: CacheRequest): Promise<CachedFolder> {
  const imagesDir = imageCacheDir(request.root ?? cacheRoot());
  const dir = path.join(imagesDir, entryName(request.folder, request.inputSize, request.interpolation));
  const decoder = decoderIdentity();
  const rowBytes = request.inputSize * request.inputSize * 3;
  const found = readManifest(dir);
  let previous: CacheManifest | undefined;
  if (found && !('unreadable' in found)) {
    const reason = staleness(found, dir, request, decoder);
    if (reason === undefined) {
      const bytes = found.images * found.rowBytes;
      request.onEvent?.({ type: 'cache-hit', folder: request.folder, images: found.images, inputSize: request.inputSize, bytes, cache: dir });
      return { dir, pixelsFile: path.join(dir, PIXELS), manifest: found, bytes, skipped: new Map(found.skipped) };
    }
    request.onEvent?.({ type: 'note', message: `image cache ${dir} is out of date: ${reason}; rebuilding it` });
    if (found.version === CACHE_VERSION && found.decoder === decoder && found.rowBytes === rowBytes && !reason.startsWith(`its ${PIXELS}`)) previous = found;
  } else if (found) {
    request.onEvent?.({ type: 'note', message: `image cache ${dir} is not used: ${found.unreadable}; rebuilding it` });
  }
  return build(request, imagesDir, dir, decoder, previous);
}

async function build(request: CacheRequest, imagesDir: string, dir: string, decoder: string, previous: CacheManifest | undefined): Promise<CachedFolder> {
  const started = performance.now();
  const rowBytes = request.inputSize * request.inputSize * 3;
  const files = request.files;
  const needed = files.length * rowBytes;
  const tmp = `${dir}.partial-${process.pid}-${Date.now().toString(36)}`;
  try {
    makeDir(imagesDir);
    removeAbandoned(imagesDir);
    const stats = fs.statfsSync(imagesDir);
    const free = stats.bavail * stats.bsize;
    if (free < needed + 2 ** 20) {
      throw new UsageError(
        `the image cache needs ${formatBytes(needed)} in ${imagesDir} (${files.length} images at ${request.inputSize}x${request.inputSize}) and ${formatBytes(free)} are free; ` +
          'free space there, clear old caches (headbench cache clear) or set HEADBENCH_CACHE_DIR to a disk with room',
      );
    }
    fs.mkdirSync(tmp);
    const pixelsFile = path.join(tmp, PIXELS);
    fs.writeFileSync(pixelsFile, '');
    fs.truncateSync(pixelsFile, needed);

    // Rows of unchanged files come from the previous cache; the rest is decoded.
    const skipped = new Map<number, string>();
    const jobs: DecodeJob[] = [];
    const reuse: [from: number, to: number][] = [];
    const before = new Map((previous?.files ?? []).map((t, row) => [t[0], { t, row }]));
    const previousSkips = new Set((previous?.skipped ?? []).map(([row]) => row));
    files.forEach((f, row) => {
      const old = before.get(f.rel);
      if (old && sameStamp(old.t, f) && !previousSkips.has(old.row)) reuse.push([old.row, row]);
      else jobs.push({ row, file: path.join(request.folder, f.rel) });
    });
    if (reuse.length) copyRows(path.join(dir, PIXELS), pixelsFile, reuse, rowBytes);

    const workers = jobs.length ? (request.workers ?? decodeWorkers(jobs.length)) : 0;
    if (jobs.length) {
      request.onEvent?.({ type: 'decode-start', folder: request.folder, images: jobs.length, inputSize: request.inputSize, cache: dir });
      const reasons = await decodeInto({
        pixelsFile,
        inputSize: request.inputSize,
        interpolation: request.interpolation,
        jobs,
        workers,
        onProgress: (done) => request.onEvent?.({ type: 'decode-progress', folder: request.folder, done, images: jobs.length }),
      });
      for (const [row, reason] of reasons) skipped.set(row, reason);
    }
    const fd = fs.openSync(pixelsFile, 'r+');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    const seconds = (performance.now() - started) / 1000;
    const manifest: CacheManifest = {
      format: CACHE_FORMAT,
      version: CACHE_VERSION,
      decoder,
      folder: request.folder,
      inputSize: request.inputSize,
      interpolation: request.interpolation,
      rowBytes,
      images: files.length,
      files: files.map((f) => [f.rel, f.size, f.mtimeMs, f.mode]),
      skipped: [...skipped].sort((a, b) => a[0] - b[0]),
      createdAt: new Date().toISOString(),
      decodeSeconds: Math.round(seconds * 100) / 100,
      decoded: jobs.length,
      reused: reuse.length,
    };
    const manifestFile = path.join(tmp, MANIFEST);
    const mfd = fs.openSync(manifestFile, 'w');
    try {
      fs.writeSync(mfd, JSON.stringify(manifest));
      fs.fsyncSync(mfd);
    } finally {
      fs.closeSync(mfd);
    }
    publish(tmp, dir, () => {
      const there = readManifest(dir);
      return !!there && !('unreadable' in there) && staleness(there, dir, request, decoder) === undefined;
    });
    if (jobs.length) request.onEvent?.({ type: 'decode-end', folder: request.folder, images: jobs.length, inputSize: request.inputSize, seconds, bytes: needed, workers, cache: dir });
    else request.onEvent?.({ type: 'cache-hit', folder: request.folder, images: files.length, inputSize: request.inputSize, bytes: needed, cache: dir });
    return { dir, pixelsFile: path.join(dir, PIXELS), manifest, bytes: needed, skipped };
  } catch (error) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (error instanceof UsageError) throw error;
    throw cacheWriteError(error, imagesDir, needed);
  }
}

function copyRows(fromFile: string, toFile: string, pairs: readonly [number, number][], rowBytes: number): void {
  const from = fs.openSync(fromFile, 'r');
  const to = fs.openSync(toFile, 'r+');
  const buffer = Buffer.allocUnsafe(rowBytes);
  try {
    for (const [a, b] of pairs) {
      if (fs.readSync(from, buffer, 0, rowBytes, a * rowBytes) !== rowBytes) throw new Error(`${fromFile} ends before row ${a}`);
      if (fs.writeSync(to, buffer, 0, rowBytes, b * rowBytes) !== rowBytes) throw Object.assign(new Error('short write'), { code: 'ENOSPC' });
    }
  } finally {
    fs.closeSync(from);
    fs.closeSync(to);
  }
}

/**
 * Puts the finished `tmp` where `dir` is. A current cache that another run published meanwhile
 * is kept (that run may be reading it) and `tmp` dropped; an out-of-date one is replaced.
 */
export function publish(tmp: string, dir: string, current: () => boolean): void {
  if (fs.existsSync(dir) && current()) {
    fs.rmSync(tmp, { recursive: true, force: true });
    return;
  }
  if (fs.existsSync(dir)) {
    const stale = `${dir}.stale-${process.pid}-${Date.now().toString(36)}`;
    try {
      fs.renameSync(dir, stale);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    fs.rmSync(stale, { recursive: true, force: true });
  }
  try {
    fs.renameSync(tmp, dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Another run published the same folder between the two renames: both are complete.
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const parent = fs.openSync(path.dirname(dir), 'r');
  try {
    fs.fsyncSync(parent);
  } finally {
    fs.closeSync(parent);
  }
}

export interface CacheEntry {
  dir: string;
  /** What the entry is: a complete cache of this headbench, one of another version, or an unfinished write. */
  status: 'ok' | 'other-version' | 'incomplete' | 'writing';
  folder?: string;
  inputSize?: number;
  interpolation?: string;
  images?: number;
  createdAt?: string;
  bytes: number;
  /** For a feature cache entry: the backbone whose features it holds (with the hash of its weights). */
  backbone?: string;
}

export function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    // Allocated blocks, not apparent size: an unfinished rows file is sparse.
    total += entry.isDirectory() ? folderBytes(full) : fs.statSync(full).blocks * 512;
  }
  return total;
}

/** Every entry of the image cache, complete or not, largest first. */
export function listImageCache(root: string = cacheRoot()): CacheEntry[] {
  return listEntries(imageCacheDir(root), readManifest, (m) => ({
    status: m.version === CACHE_VERSION ? 'ok' : 'other-version',
    folder: m.folder,
    inputSize: m.inputSize,
    interpolation: m.interpolation,
    images: m.images,
    createdAt: m.createdAt,
  }));
}

/**
 * Every entry folder under `cacheDir` (images or features), largest first: a folder a live run is
 * writing, an incomplete one (no manifest, or one that cannot be read), or what `describe` says of
 * its manifest.
 */
export function listEntries<M>(cacheDir: string, read: (dir: string) => M | { unreadable: string } | undefined, describe: (m: M) => Omit<CacheEntry, 'dir' | 'bytes'>): CacheEntry[] {
  if (!fs.existsSync(cacheDir)) return [];
  const out: CacheEntry[] = [];
  for (const name of fs.readdirSync(cacheDir)) {
    const dir = path.join(cacheDir, name);
    if (!fs.statSync(dir).isDirectory()) continue;
    const bytes = folderBytes(dir);
    const pid = writer(name);
    const m = pid === undefined ? read(dir) : undefined;
    if (!m || (typeof m === 'object' && 'unreadable' in m)) {
      out.push({ dir, status: pid !== undefined && alive(pid) ? 'writing' : 'incomplete', bytes });
      continue;
    }
    out.push({ dir, ...describe(m), bytes });
  }
  return out.sort((a, b) => b.bytes - a.bytes);
}

/**
 * Removes image cache entries (all of them, or those of the given image folders) and returns
 * what was removed. Never touches the runtime's files beside `images/`.
 */
export function clearImageCache(root: string = cacheRoot(), folders?: readonly string[]): CacheEntry[] {
  return removeEntries(listImageCache(root), folders);
}

/**
 * Removes the cache entries given (images or features): all of them, or those made from the given
 * image folders, and returns what was removed.
 */
export function removeEntries(entries: readonly CacheEntry[], folders?: readonly string[]): CacheEntry[] {
  const wanted = folders?.map((f) => {
    const resolved = path.resolve(f);
    try {
      return fs.realpathSync(resolved);
    } catch {
      return resolved;
    }
  });
  const removed: CacheEntry[] = [];
  for (const entry of entries) {
    // A run writing now keeps its folder; its own failure or success removes it.
    if (entry.status === 'writing') continue;
    if (wanted && !(entry.folder && wanted.includes(entry.folder))) continue;
    fs.rmSync(entry.dir, { recursive: true, force: true });
    removed.push(entry);
  }
  return removed;
}
