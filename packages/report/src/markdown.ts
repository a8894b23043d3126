import { describeOneDnn, renderSummary, withStatistics, type RunResults } from '@headbench/results';

/** The summary for a CI job summary (`$GITHUB_STEP_SUMMARY`): groups, verdicts and the environment in one line. */
export function renderMarkdown(input: RunResults, title = 'headbench results'): string {
  const results = input.groups && input.comparisons ? input : withStatistics(input);
  const env = results.environment;
  const lines = [
    `## ${title}`,
    '',
    renderSummary(results),
    `${env.cpu}, ${env.cores} cores; Node ${env.node}, tfjs-node ${env.tfjsNode}, libtensorflow ${env.libtensorflow} (${env.backend}); ${describeOneDnn(env.onednn)}`,
    '',
  ];
  return lines.join('\n');
}
