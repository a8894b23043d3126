import os from 'node:os';
import path from 'node:path';

/**
 * headbench's cache folder: `HEADBENCH_CACHE_DIR`, else `$XDG_CACHE_HOME/headbench`, else
 * `~/.cache/headbench`. The native runtime (tools/runtime), decoded images and the kernel probe's
 * verdicts live under it.
 */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env['HEADBENCH_CACHE_DIR']) return path.resolve(env['HEADBENCH_CACHE_DIR']);
  return path.join(env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache'), 'headbench');
}
