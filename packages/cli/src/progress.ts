import path from 'node:path';
import cliProgress from 'cli-progress';
import { type FeatureEvent, type RunEvent } from '@headbench/core';
import { formatBytes, type DatasetEvent } from '@headbench/data';

export type ProgressMode = 'bar' | 'json' | 'quiet';

/** A bar on a terminal; one JSON object per line (combination, epoch, row) when piped; nothing when quiet. */
export function progressMode(quiet: boolean, stream: NodeJS.WriteStream = process.stderr): ProgressMode {
  if (quiet) return 'quiet';
  return stream.isTTY ? 'bar' : 'json';
}

export interface Progress {
  onEvent(event: RunEvent): void;
  /** Decoding, the image cache and where the images are kept, while the dataset loads. */
  onDataset(event: DatasetEvent): void;
  /** A line for people (skipped files) that does not break the bar; nothing when quiet. */
  note(line: string): void;
  /** A warning that is shown even when quiet (a stale lock taken over, files skipped in all). */
  warn(line: string): void;
  stop(): void;
}

const seconds = (s: number) => (s >= 90 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s.toFixed(1)} s`);

/** The line a dataset event gives people, or undefined for events that only move a bar. */
export function describeDatasetEvent(e: DatasetEvent): string | undefined {
  switch (e.type) {
    case 'decode-start':
      return `decoding ${e.images} images of ${e.folder} at ${e.inputSize}x${e.inputSize} into the image cache ${e.cache}`;
    case 'decode-end':
      return (
        `decoded ${e.images} images of ${e.folder} in ${seconds(e.seconds)} (${Math.round(e.images / Math.max(e.seconds, 1e-9))} images/s, ` +
        `${e.workers ? `${e.workers} decode threads` : 'in the main thread'}); cached: ${formatBytes(e.bytes)} at ${e.inputSize}x${e.inputSize} in ${path.dirname(e.cache)}`
      );
    case 'cache-hit':
      return `image cache used for ${e.folder}: ${e.images} images at ${e.inputSize}x${e.inputSize}, ${formatBytes(e.bytes)}, nothing decoded (${e.cache})`;
    case 'storage':
      return e.storage === 'memory'
        ? `images in memory: ${formatBytes(e.bytes)} of uint8 pixels, within the memory budget of ${formatBytes(e.budget)}`
        : `images streamed from the image cache batch by batch: ${formatBytes(e.bytes)} of uint8 pixels is over the memory budget of ${formatBytes(e.budget)} (--memory-budget)`;
    case 'note':
      return e.message;
    default:
      return undefined;
  }
}

/** The line a feature cache event gives people, or undefined for progress. */
export function describeFeatureEvent(e: FeatureEvent): string | undefined {
  switch (e.type) {
    case 'features-start':
      return `computing the features of ${e.backbone} for ${e.images} images of ${e.folder} at ${e.inputSize}x${e.inputSize} once (the backbone is frozen); they go to the feature cache`;
    case 'features-end':
      return `computed the features of ${e.images} images of ${e.folder} in ${seconds(e.seconds)}${e.rebuilt ? ` (the cached ones were not used: ${e.rebuilt})` : ''}; cached: ${formatBytes(e.bytes)} in ${e.cache}`;
    case 'features-hit':
      return `feature cache used for ${e.folder}: ${e.images} images, ${formatBytes(e.bytes)}, nothing computed (${e.cache})`;
    default:
      return undefined;
  }
}

/**
 * @param stepsPerCombination training steps of one combination (epochs x batches), which with the
 * number of combinations gives the bar's total, so its ETA covers the whole run.
 */
export function createProgress(mode: ProgressMode, stepsPerCombination: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (mode === 'quiet') return { onEvent: () => {}, onDataset: () => {}, note: () => {}, warn: (line) => void stream.write(`${line}\n`), stop: () => {} };
  if (mode === 'json') {
    const emit = (o: object) => stream.write(`${JSON.stringify(o)}\n`);
    let lastProgress = 0;
    return {
      onEvent(e) {
        if (e.type === 'start') emit({ event: 'start', combinations: e.total, resumed: e.resumed });
        else if (e.type === 'combination') emit({ event: 'combination', position: e.position, of: e.total, id: e.combination.id });
        else if (e.type === 'train' && e.progress.type === 'epoch') emit({ event: 'epoch', id: e.combination.id, ...e.progress.metrics });
        else if (e.type === 'row') emit({ event: 'row', position: e.position, of: e.total, id: e.row.id, status: e.row.status, finalValAccuracy: e.row.finalValAccuracy, error: e.row.error, engines: e.row.engines, path: e.row.path?.path });
        else if (e.type === 'features') {
          // Progress at most once a second, as decoding's.
          if (e.event.type === 'features-progress') {
            const now = Date.now();
            if (now - lastProgress < 1000 && e.event.done < e.event.images) return;
            lastProgress = now;
          }
          const { type, ...rest } = e.event;
          emit({ event: type, ...rest });
        }
      },
      onDataset(e) {
        // Decoding progress at most once a second: a log, not an animation.
        if (e.type === 'decode-progress') {
          const now = Date.now();
          if (now - lastProgress < 1000 && e.done < e.images) return;
          lastProgress = now;
        }
        const { type, ...rest } = e;
        emit({ event: type, ...rest });
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
  let decodeBar: cliProgress.SingleBar | undefined;
  let decodeStarted = 0;
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
      } else if (e.type === 'features') {
        if (e.event.type === 'features-progress') bar.update(done, { step: `features ${e.event.done}/${e.event.images}` });
        else {
          const line = describeFeatureEvent(e.event);
          if (line) {
            bar.stop();
            stream.write(`${line}\n`);
            bar.start(bar.getTotal(), done, { ...payload, total: String(total) });
          }
        }
      } else if (e.type === 'row') {
        // A diverged or failed combination ends early: its remaining steps count as done.
        finished += 1;
        done = finished * stepsPerCombination;
        const r = e.row;
        const summary = r.status === 'ok' ? `final val acc ${r.finalValAccuracy?.toFixed(3)}` : r.status === 'diverged' ? `diverged at epoch ${r.divergedAt?.epoch}` : `error: ${r.error}`;
        bar.stop();
        stream.write(`  ${e.position}/${e.total} ${r.id}: ${summary} (${r.seconds.toFixed(0)} s${r.path ? `, ${r.path.path === 'features' ? 'on cached features' : r.path.path === 'mixed' ? 'frozen stages on cached features' : 'on images'}` : ''})\n`);
        // A step that cannot run as one TensorFlow graph is several times slower: say why.
        for (const [what, engine] of Object.entries(r.engines ?? {})) if (engine.reason) stream.write(`    ${what} ran eagerly: ${engine.reason}\n`);
        if (e.position < e.total) bar.start(bar.getTotal(), done, { ...payload, total: String(total) });
      }
    },
    onDataset(e) {
      if (e.type === 'decode-start') {
        stream.write(`${describeDatasetEvent(e)}\n`);
        decodeStarted = Date.now();
        decodeBar = new cliProgress.SingleBar(
          { format: 'decoding {value}/{total} images | {rate} images/s | {bar} {percentage}% | ETA {eta_formatted}', stream, hideCursor: true, etaBuffer: 200, fps: 5 },
          cliProgress.Presets.shades_classic,
        );
        decodeBar.start(e.images, 0, { rate: '-' });
      } else if (e.type === 'decode-progress') {
        const rate = e.done / Math.max((Date.now() - decodeStarted) / 1000, 1e-3);
        decodeBar?.update(e.done, { rate: rate.toFixed(0) });
      } else {
        if (e.type === 'decode-end') {
          decodeBar?.stop();
          decodeBar = undefined;
        }
        const line = describeDatasetEvent(e);
        if (line) stream.write(`${line}\n`);
      }
    },
    note(line) {
      if (decodeBar) {
        // A skipped file while decoding: the line goes above the bar, which redraws below it.
        stream.write(`\r\x1b[K${line}\n`);
        return;
      }
      stream.write(`\n${line}\n`);
    },
    warn(line) {
      stream.write(`\n${line}\n`);
    },
    stop: () => {
      decodeBar?.stop();
      bar.stop();
    },
  };
}
