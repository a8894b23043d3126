import cliProgress from 'cli-progress';
import type { RunEvent } from '@headbench/core';

export type ProgressMode = 'bar' | 'json' | 'quiet';

/** A bar on a terminal; one JSON object per line (combination, epoch, row) when piped; nothing when quiet. */
export function progressMode(quiet: boolean, stream: NodeJS.WriteStream = process.stderr): ProgressMode {
  if (quiet) return 'quiet';
  return stream.isTTY ? 'bar' : 'json';
}

export interface Progress {
  onEvent(event: RunEvent): void;
  /** A line for people (skipped files) that does not break the bar; nothing when quiet. */
  note(line: string): void;
  /** A warning that is shown even when quiet (a stale lock taken over, files skipped in all). */
  warn(line: string): void;
  stop(): void;
}

/**
 * @param stepsPerCombination training steps of one combination (epochs x batches), which with the
 * number of combinations gives the bar's total, so its ETA covers the whole run.
 */
export function createProgress(mode: ProgressMode, stepsPerCombination: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (mode === 'quiet') return { onEvent: () => {}, note: () => {}, warn: (line) => void stream.write(`${line}\n`), stop: () => {} };
  if (mode === 'json') {
    const emit = (o: object) => stream.write(`${JSON.stringify(o)}\n`);
    return {
      onEvent(e) {
        if (e.type === 'start') emit({ event: 'start', combinations: e.total, resumed: e.resumed });
        else if (e.type === 'combination') emit({ event: 'combination', position: e.position, of: e.total, id: e.combination.id });
        else if (e.type === 'train' && e.progress.type === 'epoch') emit({ event: 'epoch', id: e.combination.id, ...e.progress.metrics });
        else if (e.type === 'row') emit({ event: 'row', position: e.position, of: e.total, id: e.row.id, status: e.row.status, finalValAccuracy: e.row.finalValAccuracy, error: e.row.error, engines: e.row.engines });
      },
      note: (line) => emit({ event: 'note', message: line }),
      warn: (line) => emit({ event: 'warning', message: line }),
      stop: () => {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: '{position}/{total} {combo} | epoch {epoch} step {step} | loss {loss} | {bar} {percentage}% | ETA {eta_formatted}',
      stream,
      hideCursor: true,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  let total = 0;
  let done = 0;
  let finished = 0;
  const payload = { position: '', total: '', combo: '', epoch: '-', step: '-', loss: '-' };
  return {
    onEvent(e) {
      if (e.type === 'start') {
        total = e.total;
        bar.start((e.total - e.resumed) * stepsPerCombination, 0, { ...payload, total: String(e.total) });
      } else if (e.type === 'combination') {
        bar.update(done, { position: String(e.position), combo: e.combination.id });
      } else if (e.type === 'train' && e.progress.type === 'step') {
        const p = e.progress;
        done += 1;
        bar.update(done, { epoch: `${p.epoch}/${p.epochs}`, step: `${p.step}/${p.steps}`, loss: p.loss.toFixed(3) });
      } else if (e.type === 'row') {
        // A diverged or failed combination ends early: its remaining steps count as done.
        finished += 1;
        done = finished * stepsPerCombination;
        const r = e.row;
        const summary = r.status === 'ok' ? `final val acc ${r.finalValAccuracy?.toFixed(3)}` : r.status === 'diverged' ? `diverged at epoch ${r.divergedAt?.epoch}` : `error: ${r.error}`;
        bar.stop();
        stream.write(`  ${e.position}/${e.total} ${r.id}: ${summary} (${r.seconds.toFixed(0)} s)\n`);
        // A step that cannot run as one TensorFlow graph is several times slower: say why.
        for (const [what, engine] of Object.entries(r.engines ?? {})) if (engine.reason) stream.write(`    ${what} ran eagerly: ${engine.reason}\n`);
        if (e.position < e.total) bar.start(bar.getTotal(), done, { ...payload, total: String(total) });
      }
    },
    note(line) {
      stream.write(`\n${line}\n`);
    },
    warn(line) {
      stream.write(`\n${line}\n`);
    },
    stop: () => bar.stop(),
  };
}
