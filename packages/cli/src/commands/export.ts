import path from 'node:path';
import { writeFileAtomic } from '@headbench/errors';
import { readResults, toGab } from '@headbench/results';

/** github-action-benchmark's two custom formats, one file each. */
export function exportGab(input: string, outDir: string, cwd: string): string {
  const results = readResults(path.resolve(cwd, input, input.endsWith('.json') ? '' : 'results.json'));
  const { smallerIsBetter, biggerIsBetter } = toGab(results);
  const dir = path.resolve(cwd, outDir);
  const smaller = path.join(dir, 'smaller-is-better.json');
  const bigger = path.join(dir, 'bigger-is-better.json');
  writeFileAtomic(smaller, `${JSON.stringify(smallerIsBetter, null, 2)}\n`);
  writeFileAtomic(bigger, `${JSON.stringify(biggerIsBetter, null, 2)}\n`);
  return `${smaller} (customSmallerIsBetter, ${smallerIsBetter.length} entries)\n${bigger} (customBiggerIsBetter, ${biggerIsBetter.length} entries)\n`;
}
