import path from 'node:path';
import { writeFileAtomic } from '@headbench/errors';
import { readResults } from '@headbench/results';
import { renderHtml, renderMarkdown } from '@headbench/report';

/** Writes the HTML page (and the Markdown summary when asked) for a results file or run folder. */
export function reportCommand(input: string, options: { out?: string; markdown?: string; title?: string }, cwd: string): string {
  const file = path.resolve(cwd, input, input.endsWith('.json') ? '' : 'results.json');
  const results = readResults(file);
  const title = options.title ?? `headbench: ${path.basename(path.dirname(file))}`;
  const html = path.resolve(cwd, options.out ?? path.join(path.dirname(file), 'report.html'));
  writeFileAtomic(html, renderHtml(results, title));
  const md = renderMarkdown(results, title);
  if (options.markdown) writeFileAtomic(path.resolve(cwd, options.markdown), md);
  return `${md}\nreport: ${html}\n`;
}
