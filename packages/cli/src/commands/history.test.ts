import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addNight, History, prepareNight, type CheckResult } from '@headbench/history';
import { generateNights, threeSeeds, THREE_SEEDS, type GeneratedNight } from '@headbench/history/testing';
import { buildCli, headbench } from '../testing/cli.js';

// The nightly history as users run it: `headbench history add | check | report` in child
// processes, on nights generated from a real 3-seed results.json (per-image flips and timing
// noise each night).
let tmp: string;
beforeAll(() => {
  buildCli();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-history-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A database of these nights, added through the same `addNight` that `history add` runs (40 child processes would take minutes). */
async function database(name: string, nights: readonly GeneratedNight[]): Promise<string> {
  const file = path.join(tmp, `${name}.duckdb`);
  const history = await History.open(file, 'create');
  try {
    for (const n of nights) await addNight(history, prepareNight([{ file: `night-${n.commit}.json`, results: n.results }], { commit: n.commit, time: n.time, testbed: 'epyc-2-core' }));
  } finally {
    history.close();
  }
  return file;
}

function writeNight(n: GeneratedNight): string {
  const dir = path.join(tmp, `night-${n.commit}-${Math.random().toString(36).slice(2)}`);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify(n.results));
  return dir;
}

const base = threeSeeds();

describe('headbench history check', () => {
  it('lists the planted 7-point drop (night 25) and 1.35x step (night 30), worse, at their nights, and nothing for the untouched head', async () => {
    const db = await database('planted', generateNights(base, { nights: 40, drop: { head: 'flatten', from: 25, points: 7 }, slowdown: { head: 'gmp', from: 30, factor: 1.35 } }));
    const r = await headbench(['history', 'check', '--db', db, '--format', 'json']);
    expect(r.errors).toEqual([]);
    // Both changes are older than the newest night: the job does not fail on them again.
    expect(r.status).toBe(0);
    const result = JSON.parse(r.stdout) as CheckResult;
    expect(result.nights).toBe(40);
    const drop = result.changes.find((c) => c.head === 'flatten' && c.metric === 'finalValAccuracy')!;
    expect(Math.abs(drop.night - 25)).toBeLessThanOrEqual(1);
    expect(drop).toMatchObject({ direction: 'worse', backbone: 'mobilenetv2:alpha=0.35', trainer: 'sgd', lr: 0.01, commit: `c0${drop.night}` });
    expect(drop.after).toBeLessThan(drop.before);
    const step = result.changes.find((c) => c.head === 'gmp' && c.metric === 'medianStepMs')!;
    expect(Math.abs(step.night - 30)).toBeLessThanOrEqual(1);
    expect(step).toMatchObject({ direction: 'worse', testbed: 'epyc-2-core' });
    expect(result.changes.filter((c) => c.head === 'gap')).toEqual([]);
    expect(result.changes.every((c) => c.direction === 'worse')).toBe(true);

    const text = await headbench(['history', 'check', '--db', db]);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/^40 nights, 12 series .*: \d changes\./);
    expect(text.stdout).toMatch(/\| worse +\| final val accuracy +\| mobilenetv2:alpha=0.35 flatten sgd lr=0.01 /);
    expect(text.stdout).toMatch(/\| worse +\| median step ms +\| mobilenetv2:alpha=0.35 gmp sgd lr=0.01 +\| epyc-2-core /);

    const report = await headbench(['history', 'report', '--db', db, '--out', path.join(tmp, 'planted-report')]);
    expect(report.errors).toEqual([]);
    expect(report.status).toBe(0);
    const html = fs.readFileSync(path.join(tmp, 'planted-report', 'history.html'), 'utf8');
    expect(html).toContain(`final val accuracy: worse at ${drop.commit}`);
    expect(html).toContain(`median step ms: worse at ${step.commit}`);
    expect(html).toMatch(/val images \(by position in the split, sha256:[0-9a-f]+\) right before and wrong after: #\d+/);
    expect(fs.readFileSync(path.join(tmp, 'planted-report', 'history.md'), 'utf8')).toMatch(/40 nights, newest c040 \(2026-02-09\): \d change points, 0 new tonight/);
  });

  it('lists no change in 40 nights of noise alone', async () => {
    const db = await database('noise', generateNights(base, { nights: 40, seed: 7 }));
    const r = await headbench(['history', 'check', '--db', db]);
    expect(r.errors).toEqual([]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('40 nights, 12 series (cell x metric, timings per testbed), false discovery rate 0.05: no change.\n');
  });

  it('exits 1 when the newest night reveals a worse change', async () => {
    const db = await database('tonight', generateNights(base, { nights: 40, slowdown: { head: 'gap', from: 38, factor: 1.6 } }));
    const r = await headbench(['history', 'check', '--db', db, '--format', 'json']);
    expect(r.status).toBe(1);
    const result = JSON.parse(r.stdout) as CheckResult;
    expect(result.changes).toEqual([expect.objectContaining({ head: 'gap', metric: 'medianStepMs', night: 38, direction: 'worse', new: true })]);
  });
});

describe('headbench history add', () => {
  const nights = generateNights(base, { nights: 3 });

  it('stores a night once: the same results again change nothing', async () => {
    const db = path.join(tmp, 'twice.duckdb');
    const first = await headbench(['history', 'add', THREE_SEEDS, '--db', db, '--commit', 'abc123', '--testbed', 'epyc']);
    expect(first.errors).toEqual([]);
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/^added night 1 \(commit abc123, 2026-.*, testbed epyc, 9 rows\) to /);
    const bytes = fs.readFileSync(db);
    const again = await headbench(['history', 'add', THREE_SEEDS, '--db', db, '--commit', 'abc123', '--testbed', 'epyc']);
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(/^already stored as night 1 .*; nothing changed/);
    expect(fs.readFileSync(db).equals(bytes)).toBe(true);
    // The same rows from a folder, under another commit: still the same night.
    const folder = path.dirname(THREE_SEEDS);
    const copy = path.join(tmp, 'copy');
    fs.mkdirSync(copy);
    fs.copyFileSync(path.join(folder, 'three-seeds.json'), path.join(copy, 'results.json'));
    const fromFolder = await headbench(['history', 'add', copy, '--db', db, '--commit', 'other']);
    expect(fromFolder.stdout).toMatch(/^already stored as night 1 \(commit abc123/);
  });

  it('keeps every stored night when an add is killed half-way, and the night adds whole afterwards', async () => {
    const db = path.join(tmp, 'killed.duckdb');
    const one = await headbench(['history', 'add', writeNight(nights[0]!), '--db', db, '--commit', nights[0]!.commit]);
    expect(one.status).toBe(0);
    const second = writeNight(nights[1]!);
    let held: ChildProcess | undefined;
    const locked = deferred();
    process.env['HEADBENCH_HISTORY_HOLD'] = '1';
    const killed = headbench(['history', 'add', second, '--db', db, '--commit', nights[1]!.commit], undefined, (child) => {
      held = child;
      child.stderr!.on('data', (d: Buffer) => {
        if (d.toString().includes('holding before commit')) locked.resolve();
      });
    });
    delete process.env['HEADBENCH_HISTORY_HOLD'];
    await locked.promise;
    // While it holds the database (its rows written, not committed), another add is refused in one line.
    const busy = await headbench(['history', 'add', writeNight(nights[2]!), '--db', db]);
    expect(busy.status).toBe(2);
    expect(busy.errors).toEqual([`headbench: ${db} is in use by another process (PID ${held!.pid}); wait for it to finish and run again`]);
    held!.kill('SIGKILL');
    expect((await killed).signal).toBe('SIGKILL');
    const check = await headbench(['history', 'check', '--db', db, '--format', 'json']);
    expect(check.errors).toEqual([]);
    expect((JSON.parse(check.stdout) as CheckResult).nights).toBe(1);
    const retry = await headbench(['history', 'add', second, '--db', db, '--commit', nights[1]!.commit]);
    expect(retry.errors).toEqual([]);
    expect(retry.stdout).toMatch(/^added night 2 \(commit c002/);
  });

  it('refuses a file that is not a history database in one line, and leaves it as it was', async () => {
    const results = path.join(tmp, 'results-as-db.json');
    fs.copyFileSync(THREE_SEEDS, results);
    const before = fs.readFileSync(results);
    for (const command of [['add', THREE_SEEDS], ['check'], ['report', '--out', path.join(tmp, 'nowhere')]]) {
      const r = await headbench(['history', ...command, '--db', results]);
      expect(r.status).toBe(2);
      expect(r.errors).toEqual([`headbench: ${results} is not a headbench history database (not a DuckDB file); pass the --db that history add wrote, or a new file name`]);
    }
    expect(fs.readFileSync(results).equals(before)).toBe(true);
    // A history database cut short (a copy that did not finish).
    const whole = path.join(tmp, 'whole.duckdb');
    expect((await headbench(['history', 'add', THREE_SEEDS, '--db', whole])).status).toBe(0);
    const cut = path.join(tmp, 'cut.duckdb');
    fs.writeFileSync(cut, fs.readFileSync(whole).subarray(0, 5000));
    const damaged = await headbench(['history', 'check', '--db', cut]);
    expect(damaged.status).toBe(2);
    expect(damaged.errors).toHaveLength(1);
    expect(damaged.errors[0]).toMatch(new RegExp(`^headbench: ${cut} is damaged or not a headbench history database \\(.*\\); restore it from the last copy, or pass another --db$`));
    const missing = await headbench(['history', 'check', '--db', path.join(tmp, 'none.duckdb')]);
    expect(missing.status).toBe(2);
    expect(missing.errors).toEqual([`headbench: ${path.join(tmp, 'none.duckdb')} does not exist; create it with headbench history add <results> --db ${path.join(tmp, 'none.duckdb')}`]);
  });
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
