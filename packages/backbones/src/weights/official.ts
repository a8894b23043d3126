import { existsSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '@headbench/core';
import type { LoadTarget } from './assign.js';
import { download, hashAlgorithm, hashFile } from './download.js';
import { defaultSources, type ImagenetSources } from './imagenet.js';
import { loadKerasH5 } from './keras-h5.js';

/**
 * One official Keras Applications weight file: the name Keras caches it under, the URL Keras
 * downloads it from and the hash Keras' source records for it (`WEIGHTS_HASHES`; md5 for every
 * file here, which `get_file`'s `hash_algorithm="auto"` picks for 32 hex digits).
 */
export interface KerasWeightFile {
  /** The plugin as users type it, for messages: `resnet50`, `mobilenetv3small alpha 0.75`. */
  label: string;
  fileName: string;
  /** Keras' BASE_WEIGHT(S)_PATH for the family; the file is downloaded from baseUrl + fileName. */
  baseUrl: string;
  hash: string;
}

export const kerasUrl = (file: KerasWeightFile) => new URL(file.fileName, file.baseUrl).href;

/** The default places to look, with downloads from the file's own Keras folder. */
export function officialSources(file: KerasWeightFile, env: NodeJS.ProcessEnv = process.env): ImagenetSources {
  // HEADBENCH_WEIGHTS_URL: a mirror holding Keras' files under their own names.
  return { ...defaultSources(env), baseUrl: env['HEADBENCH_WEIGHTS_URL'] || file.baseUrl };
}

/**
 * Before a run trains: makes sure every official file is on disk (found in a searched folder, or
 * downloaded now into the cache) and returns one line per file saying where it is. If any file
 * is neither, throws one UsageError naming every missing file, where to put it and its URL.
 * Hashes are checked when the weights load.
 */
export async function ensureOfficialWeights(files: KerasWeightFile[], sourcesOf: (file: KerasWeightFile) => ImagenetSources = (f) => officialSources(f)): Promise<string[]> {
  const unique = [...new Map(files.map((f) => [f.fileName, f])).values()];
  const lines: string[] = [];
  const missing: { file: KerasWeightFile; failure: string; sources: ImagenetSources }[] = [];
  for (const file of unique) {
    const sources = sourcesOf(file);
    const local = sources.dirs.map((dir) => path.join(dir, file.fileName)).find((f) => existsSync(f));
    if (local) {
      lines.push(`${file.fileName} (${file.label}): ${local}`);
      continue;
    }
    if (!sources.baseUrl) {
      missing.push({ file, failure: 'downloads are off', sources });
      continue;
    }
    const url = new URL(file.fileName, sources.baseUrl).href;
    const result = await download(url, path.join(sources.cacheDir, file.fileName), { expectedHash: file.hash, progress: process.stderr, label: file.fileName });
    if (result.ok) lines.push(`${file.fileName} (${file.label}): downloaded to ${result.file}`);
    else missing.push({ file, failure: `download failed: ${result.reason}`, sources });
  }
  if (missing.length) {
    const dirs = missing[0]!.sources.dirs;
    const list = missing.map(({ file, failure }) => `${file.fileName} for ${file.label} from ${kerasUrl(file)} (${failure})`).join('; ');
    throw new UsageError(
      `ImageNet weights missing for ${missing.length} of ${unique.length} backbones: put Keras' files into ${dirs.join(' or ')} (HEADBENCH_WEIGHTS_DIR adds a folder), or use weights=none: ${list}`,
    );
  }
  return lines;
}

/**
 * Loads an official Keras weight file into `target.model`: from the first searched folder that
 * has it, else downloaded (with progress, into the cache folder) from Keras' URL. Its hash must
 * be the published one, locally and downloaded. Returns what was used, for result rows.
 * Where it looks and downloads from is `sources` (the tests point `baseUrl` at a local server).
 */
export async function loadOfficialWeights(target: LoadTarget, file: KerasWeightFile, sources: ImagenetSources = officialSources(file)): Promise<string> {
  const algorithm = hashAlgorithm(file.hash);
  for (const dir of sources.dirs) {
    const local = path.join(dir, file.fileName);
    if (!existsSync(local)) continue;
    const hash = await hashFile(local, algorithm);
    if (hash !== file.hash) {
      throw new UsageError(`${file.label}: ${local} has ${algorithm} ${hash}, but Keras' ${file.fileName} has ${file.hash}; the file is damaged or not the official one: delete it (it will be looked for again) or replace it`);
    }
    await loadKerasH5(local, target);
    return `imagenet (keras h5, ${algorithm} verified: ${local})`;
  }

  let failure = 'downloads are off';
  if (sources.baseUrl) {
    const url = new URL(file.fileName, sources.baseUrl).href;
    const result = await download(url, path.join(sources.cacheDir, file.fileName), { expectedHash: file.hash, progress: process.stderr, label: file.fileName });
    if (result.ok) {
      await loadKerasH5(result.file, target);
      return `imagenet (keras h5, downloaded, ${algorithm} verified: ${result.file})`;
    }
    failure = `download from ${url} failed: ${result.reason}`;
  }
  throw new UsageError(missingMessage(file, sources, failure));
}

/** What a user is told when the file is nowhere: which file, where to put it, where to get it. */
export function missingMessage(file: KerasWeightFile, sources: ImagenetSources, failure: string): string {
  return (
    `${file.label}: no ImageNet weights. Put Keras' file ${file.fileName} into ${sources.dirs.join(' or ')} ` +
    `(${sources.dirs.length > 1 ? 'searched in that order; ' : ''}HEADBENCH_WEIGHTS_DIR adds a folder), from ${kerasUrl(file)} (${hashAlgorithm(file.hash)} ${file.hash}). ` +
    `Or use weights=none, or weights=<a Keras .h5 file or TF.js layers model directory>. (${failure})`
  );
}
