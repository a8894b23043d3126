import path from 'node:path';
import { cacheRoot, clearFeatureCache, clearImageCache, featureCacheDir, formatBytes, imageCacheDir, listFeatureCache, listImageCache, type CacheEntry } from '@headbench/data';

const STATUS: Record<CacheEntry['status'], string> = {
  ok: 'ok',
  'other-version': 'other version (rebuilt when used)',
  incomplete: 'incomplete (a stopped write; removed by the next run)',
  writing: 'being written now',
};

function table(header: string[], rows: string[][]): string {
  const lines = [header, ...rows].map((r) => `| ${r.join(' | ')} |`);
  lines.splice(1, 0, `|${header.map(() => '---').join('|')}|`);
  return lines.join('\n');
}

const written = (e: CacheEntry) => e.createdAt?.slice(0, 19).replace('T', ' ') ?? '-';

/** The feature cache's entries, or nothing when it has none. */
function featureList(root: string): string {
  const entries = listFeatureCache(root);
  if (entries.length === 0) return '';
  const rows = entries.map((e) => [
    e.folder ?? path.basename(e.dir),
    e.backbone ?? '-',
    e.inputSize ? `${e.inputSize}x${e.inputSize}` : '-',
    e.images !== undefined ? String(e.images) : '-',
    formatBytes(e.bytes),
    STATUS[e.status],
    written(e),
  ]);
  const total = entries.reduce((s, e) => s + e.bytes, 0);
  return `\n${table(['folder', 'backbone', 'input', 'images', 'size', 'status', 'written'], rows)}\n\n${entries.length} feature cache entr${entries.length === 1 ? 'y' : 'ies'} (a frozen backbone's features of a cached folder), ${formatBytes(total)} in ${featureCacheDir(root)}\n`;
}

/** `headbench cache list`: one line per cached folder and size, the largest first, and the total; then the features computed from them. */
export function cacheList(root: string = cacheRoot()): string {
  const entries = listImageCache(root);
  const dir = imageCacheDir(root);
  const features = featureList(root);
  if (entries.length === 0) return `the image cache ${dir} is empty\n${features}`;
  const rows = entries.map((e) => [
    e.folder ?? path.basename(e.dir),
    e.inputSize ? `${e.inputSize}x${e.inputSize}` : '-',
    e.interpolation ?? '-',
    e.images !== undefined ? String(e.images) : '-',
    formatBytes(e.bytes),
    STATUS[e.status],
    written(e),
  ]);
  const total = entries.reduce((s, e) => s + e.bytes, 0);
  return `${table(['folder', 'input', 'interpolation', 'images', 'size', 'status', 'written'], rows)}\n\n${entries.length} cached folder${entries.length === 1 ? '' : 's'}, ${formatBytes(total)} in ${dir}\n${features}`;
}

/** `headbench cache clear [folders...]`: removes the images and the features computed from them, and says what, and how much was freed. */
export function cacheClear(folders: readonly string[], cwd: string, root: string = cacheRoot()): string {
  const wanted = folders.length ? folders.map((f) => path.resolve(cwd, f)) : undefined;
  const removed = clearImageCache(root, wanted);
  const features = clearFeatureCache(root, wanted);
  const freed = [...removed, ...features].reduce((s, e) => s + e.bytes, 0);
  if (removed.length === 0 && features.length === 0) return folders.length ? `no cached images of ${folders.join(', ')} in ${imageCacheDir(root)}\n` : `the image cache ${imageCacheDir(root)} was already empty\n`;
  const lines = [
    ...removed.map((e) => `removed ${e.folder ?? path.basename(e.dir)}${e.inputSize ? ` at ${e.inputSize}x${e.inputSize}` : ''} (${formatBytes(e.bytes)})`),
    ...features.map((e) => `removed the features of ${e.folder ?? path.basename(e.dir)}${e.inputSize ? ` at ${e.inputSize}x${e.inputSize}` : ''}${e.backbone ? ` through ${e.backbone}` : ''} (${formatBytes(e.bytes)})`),
  ];
  return `${lines.join('\n')}\nfreed ${formatBytes(freed)} in ${imageCacheDir(root)}${features.length ? ` and ${featureCacheDir(root)}` : ''}\n`;
}
