import { formatTable, SUMMARY_COLUMNS, type RunResults } from '@headbench/core';

/** The summary for a CI job summary (`$GITHUB_STEP_SUMMARY`): the table and the environment in one line. */
export function renderMarkdown(results: RunResults, title = 'headbench results'): string {
  const env = results.environment;
  const lines = [
    `## ${title}`,
    '',
    formatTable(results.rows, SUMMARY_COLUMNS, 'md'),
    `${env.cpu}, ${env.cores} cores; Node ${env.node}, tfjs-node ${env.tfjsNode}, libtensorflow ${env.libtensorflow} (${env.backend})`,
    '',
  ];
  return lines.join('\n');
}
