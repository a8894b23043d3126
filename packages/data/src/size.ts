import { UsageError } from '@headbench/errors';

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** `2GB`, `1.5 GiB`, `500MB`, `0` as bytes (kB/MB/GB decimal, KiB/MiB/GiB binary). */
export function parseSize(text: string, what = 'size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = UNITS[(m?.[2] ?? '').toLowerCase()];
  if (!m || unit === undefined) throw new UsageError(`${what} "${text}" is not a size; write it like 2GB, 512MB or 1.5GiB`);
  return Math.round(Number(m[1]) * unit);
}
