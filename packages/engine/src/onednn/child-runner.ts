import { spawnSync } from 'node:child_process';
import os from 'node:os';

/**
 * Runs probe cases in a child process, where native code may die: the child writes `start <case>`
 * before each case and `ok <case> <json>` after it (synchronously, so the lines survive a crash).
 * A child killed by a signal is charged to the case it had started, and a new child goes on with
 * the cases after it, so one crash neither hides the other cases nor stops the probe.
 */
export type CaseOutcome = { status: 'ok'; data: unknown } | { status: 'died'; signal: string } | { status: 'failed'; message: string };

export interface ChildRun {
  outcomes: Map<string, CaseOutcome>;
  /** Children started (one more per case that died). */
  children: number;
}

export function runCases(script: string, cases: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 300_000): ChildRun {
  const outcomes = new Map<string, CaseOutcome>();
  let remaining = [...cases];
  let children = 0;
  while (remaining.length > 0) {
    children += 1;
    const child = spawnSync(process.execPath, [script, JSON.stringify(remaining)], { env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    let started: string | undefined;
    for (const line of child.stdout.split('\n')) {
      const [word, name, ...rest] = line.split(' ');
      if (word === 'start' && name) started = name;
      if (word === 'ok' && name) {
        outcomes.set(name, { status: 'ok', data: rest.length ? JSON.parse(rest.join(' ')) : null });
        started = undefined;
      }
    }
    const unfinished = started;
    if (unfinished === undefined) {
      // Every case the child started finished; one it never started (it failed before) failed.
      for (const name of remaining.filter((c) => !outcomes.has(c))) outcomes.set(name, { status: 'failed', message: lastLine(child.stderr) || `the child exited with ${child.signal ?? child.status}` });
      break;
    }
    if (child.signal && child.signal !== 'SIGTERM' && child.signal !== 'SIGKILL') {
      outcomes.set(unfinished, { status: 'died', signal: child.signal });
    } else {
      const why = child.error ? String(child.error.message) : child.signal ? `killed by ${child.signal}` : lastLine(child.stderr) || `exit code ${child.status}`;
      outcomes.set(unfinished, { status: 'failed', message: why });
      for (const name of remaining.filter((c) => !outcomes.has(c))) outcomes.set(name, { status: 'failed', message: `not run: the probe child failed in ${unfinished}` });
      break;
    }
    remaining = remaining.slice(remaining.indexOf(unfinished) + 1);
  }
  return { outcomes, children };
}

/** What a failed child said: its error's line (Node ends with its own version line), else its last line. */
function lastLine(text: string | null): string {
  const lines = (text ?? '').trim().split(os.EOL).filter(Boolean);
  return lines.find((line) => /^\w*Error\b/.test(line)) ?? lines.at(-1) ?? '';
}
