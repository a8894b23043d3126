import path from 'node:path';
import { cacheRoot, clearImageCache, formatBytes, imageCacheDir, listImageCache, type CacheEntry } from '@headbench/data';

const STATUS: Record<CacheEntry['status'], string> = {
  ok: 'ok',
  'other-version': 'other version (rebuilt when used)',
  incomplete: 'incomplete (a stopped write; removed by the next run)',
  writing: 'being written now',
};

/** `headbench cache list`: one line per cached folder and size, the largest first, and the total. */
export function cacheList(root: string = cacheRoot()): string {
  const entries = listImageCache(root);
  const dir = imageCacheDir(root);
  if (entries.length === 0) return `the image cache ${dir} is empty\n`;
  const rows = entries.map((e) => [
    e.folder ?? path.basename(e.dir),
    e.inputSize ? `${e.inputSize}x${e.inputSize}` : '-',
    e.interpolation ?? '-',
    e.images !== undefined ? String(e.images) : '-',
    formatBytes(e.bytes),
    STATUS[e.status],
    e.createdAt?.slice(0, 19).replace('T', ' ') ?? '-',
  ]);
  const header = ['folder', 'input', 'interpolation', 'images', 'size', 'status', 'written'];
  const lines = [header, ...rows].map((r) => `| ${r.join(' | ')} |`);
  lines.splice(1, 0, `|${header.map(() => '---').join('|')}|`);
  const total = entries.reduce((s, e) => s + e.bytes, 0);
  return `${lines.join('\n')}\n\n${entries.length} cached folder${entries.length === 1 ? '' : 's'}, ${formatBytes(total)} in ${dir}\n`;
}

/** `headbench cache clear [folders...]`: removes and says what, and how much was freed. */
export function cacheClear(folders: readonly string[], cwd: string, root: string = cacheRoot()): string {
  const removed = clearImageCache(root, folders.length ? folders.map((f) => path.resolve(cwd, f)) : undefined);
  const freed = removed.reduce((s, e) => s + e.bytes, 0);
  if (removed.length === 0) return folders.length ? `no cached images of ${folders.join(', ')} in ${imageCacheDir(root)}\n` : `the image cache ${imageCacheDir(root)} was already empty\n`;
  const lines = removed.map((e) => `removed ${e.folder ?? path.basename(e.dir)}${e.inputSize ? ` at ${e.inputSize}x${e.inputSize}` : ''} (${formatBytes(e.bytes)})`);
  return `${lines.join('\n')}\nfreed ${formatBytes(freed)} in ${imageCacheDir(root)}\n`;
}
