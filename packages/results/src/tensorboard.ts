import fs from 'node:fs';
import path from 'node:path';
import { tf } from '@headbench/engine';
import { writeFileAtomic } from '@headbench/errors';
import type { EpochMetrics } from './records.js';
import type { ResultRow } from './row.js';

/**
 * The events of a run the logger reads: core's `RunEvent`s (a combination starts, an epoch ends,
 * a row is finished) fit this type, and others are ignored.
 */
export type TensorBoardEvent =
  | { type: 'combination'; combination: { id: string } }
  | { type: 'train'; combination: { id: string }; progress: { type: 'epoch'; metrics: EpochMetrics } | { type: 'step' } }
  | { type: 'row'; row: Pick<ResultRow, 'id' | 'testAccuracy' | 'history'> }
  | { type: 'start' };

/**
 * A combination id as a folder name on any filesystem: `|` becomes `__`, anything but letters,
 * digits and `._=,+-` becomes `_`. Not reversible in general, so the logger keeps `runs.json`
 * (folder -> combination id) beside the run folders.
 */
export function tensorboardRunName(id: string): string {
  return id.replaceAll('|', '__').replace(/[^A-Za-z0-9._=,+-]/g, '_');
}

export const TENSORBOARD_INDEX = 'runs.json';

export interface TensorBoardLogger {
  dir: string;
  /** Feed it the run's events: every epoch's scalars go to the combination's run folder. */
  onEvent(event: TensorBoardEvent): void;
}

/**
 * Per-epoch scalars (`loss/train`, `loss/val`, `accuracy/train`, `accuracy/val`, and
 * `accuracy/test` once after training) as TensorBoard event files, written with tfjs-node's own
 * summary writer: one run folder per combination, so `tensorboard --logdir <dir>` shows every
 * curve of the cross product.
 */
export function tensorboardLogger(dir: string): TensorBoardLogger {
  fs.mkdirSync(dir, { recursive: true });
  const indexFile = path.join(dir, TENSORBOARD_INDEX);
  const index: Record<string, string> = fs.existsSync(indexFile) ? (JSON.parse(fs.readFileSync(indexFile, 'utf8')) as Record<string, string>) : {};
  const folderOf = (id: string) => {
    const known = Object.entries(index).find(([, v]) => v === id)?.[0];
    if (known) return known;
    const base = tensorboardRunName(id);
    let name = base;
    for (let k = 2; index[name] !== undefined; k++) name = `${base}-${k}`;
    index[name] = id;
    writeFileAtomic(indexFile, `${JSON.stringify(index, null, 2)}\n`);
    return name;
  };
  const writers = new Map<string, ReturnType<typeof tf.node.summaryFileWriter>>();
  // Opened before training starts: the writer holds a resource tensor, which must not count as a leak of the training loop.
  const writerOf = (id: string) => {
    let w = writers.get(id);
    if (!w) {
      w = tf.node.summaryFileWriter(path.join(dir, folderOf(id)));
      writers.set(id, w);
    }
    return w;
  };
  return {
    dir,
    onEvent(e) {
      if (e.type === 'combination') writerOf(e.combination.id);
      else if (e.type === 'train' && e.progress.type === 'epoch') {
        const m = e.progress.metrics;
        const w = writerOf(e.combination.id);
        w.scalar('loss/train', m.trainLoss, m.epoch);
        w.scalar('loss/val', m.valLoss, m.epoch);
        w.scalar('accuracy/train', m.trainAccuracy, m.epoch);
        w.scalar('accuracy/val', m.valAccuracy, m.epoch);
        w.flush();
      } else if (e.type === 'row') {
        const w = writers.get(e.row.id);
        if (w && typeof e.row.testAccuracy === 'number') w.scalar('accuracy/test', e.row.testAccuracy, e.row.history.at(-1)?.epoch ?? 0);
        w?.flush();
      }
    },
  };
}
