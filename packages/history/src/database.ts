import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { DEFAULT_TRAINER, describeOneDnn, mergeResults, readResults, UsageError, type ResultRow, type RunResults } from './upstream.js';

/** What the `headbench_history` table says of a database this package wrote. */
export const HISTORY_SCHEMA = 'headbench/history';
export const HISTORY_SCHEMA_VERSION = 1;
/** The default `--db`. */
export const DEFAULT_DATABASE = 'headbench-history.duckdb';

// DuckDB's file header: 8 bytes of checksum, then the magic bytes.
const DUCKDB_MAGIC = Buffer.from('DUCK');

const SCHEMA = [
  `create table headbench_history (key varchar primary key, value varchar)`,
  // One night: one merged results file of one commit on one testbed.
  `create table nights (
    night integer primary key,
    content varchar not null unique,
    "commit" varchar not null,
    time varchar not null,
    testbed varchar not null,
    host varchar,
    cpu varchar,
    cpu_flags varchar,
    cores integer,
    tensorflow varchar,
    tfjs_node varchar,
    onednn varchar,
    plugins varchar,
    dataset varchar,
    dataset_fingerprint varchar,
    config varchar,
    environment varchar,
    sources varchar,
    added_at varchar not null
  )`,
  `create table rows (
    night integer not null,
    id varchar not null,
    backbone varchar not null,
    head varchar not null,
    trainer varchar not null,
    lr double not null,
    seed integer not null,
    status varchar not null,
    final_val_accuracy double,
    best_val_accuracy double,
    test_accuracy double,
    median_step_ms double,
    inference_ms double,
    row varchar not null,
    primary key (night, id)
  )`,
  // Which images each row got right: the results file's bitsets, base64 (bit i of byte i >> 3).
  `create table per_image (
    night integer not null,
    row_id varchar not null,
    split varchar not null,
    fingerprint varchar not null,
    images integer not null,
    correct varchar not null,
    primary key (night, row_id, split)
  )`,
];

/** Why DuckDB refused, in one line with what to do. */
function explain(file: string, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  const lock = /Conflicting lock is held in .*?\(PID (\d+)\)/.exec(message);
  if (lock) return new UsageError(`${file} is in use by another process (PID ${lock[1]}); wait for it to finish and run again`, { cause: error });
  if (/not a valid DuckDB database file|Could not read enough bytes|checksum|Corrupt|corrupt/i.test(message)) {
    return new UsageError(`${file} is damaged or not a headbench history database (${message.replace(/\s+/g, ' ').slice(0, 160)}); restore it from the last copy, or pass another --db`, { cause: error });
  }
  if (/Permission denied|Read-only file system|No space left/i.test(message)) return new UsageError(`cannot use ${file}: ${message.replace(/^IO Error: /, '').replace(/\s+/g, ' ')}`, { cause: error });
  return error instanceof Error ? error : new Error(message);
}

/** An open history database; `close()` it. */
export class History {
  private constructor(
    readonly file: string,
    private readonly instance: DuckDBInstance,
    readonly connection: DuckDBConnection,
  ) {}

  /**
   * Opens `file`: `create` makes a new database where there is none; otherwise it must be one
   * that `history add` wrote. A file that is not (a results file passed as --db, a DuckDB file of
   * something else) is refused before DuckDB touches it.
   */
  static async open(file: string, mode: 'create' | 'existing'): Promise<History> {
    let size = -1;
    try {
      size = fs.statSync(file).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw explain(file, error);
    }
    if (size < 0 && mode === 'existing') throw new UsageError(`${file} does not exist; create it with headbench history add <results> --db ${file}`);
    if (size >= 0 && size < 12) throw new UsageError(`${file} is not a headbench history database (${size ? `${size} bytes, too short for one` : 'an empty file'}); pass the --db that history add wrote, or a new file name`);
    if (size >= 12) {
      const head = Buffer.alloc(12);
      const fd = fs.openSync(file, 'r');
      try {
        fs.readSync(fd, head, 0, 12, 0);
      } finally {
        fs.closeSync(fd);
      }
      if (!head.subarray(8, 12).equals(DUCKDB_MAGIC)) {
        throw new UsageError(`${file} is not a headbench history database (not a DuckDB file); pass the --db that history add wrote, or a new file name`);
      }
    }
    if (size < 0) fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    let instance: DuckDBInstance;
    let connection: DuckDBConnection;
    try {
      // One thread: nights are small, and the machine's cores belong to the benchmarks.
      instance = await DuckDBInstance.create(file, { threads: '1' });
      connection = await instance.connect();
    } catch (error) {
      throw explain(file, error);
    }
    const history = new History(file, instance, connection);
    try {
      await history.checkSchema(size < 0);
    } catch (error) {
      history.close();
      throw error;
    }
    return history;
  }

  private async checkSchema(created: boolean): Promise<void> {
    const tables = (await this.all<{ table_name: string }>(`select table_name from information_schema.tables where table_schema = 'main'`)).map((t) => t.table_name);
    if (created && tables.length === 0) {
      await this.transaction(async () => {
        for (const statement of SCHEMA) await this.connection.run(statement);
        await this.connection.run(`insert into headbench_history values ('schema', $schema), ('version', $version)`, { schema: HISTORY_SCHEMA, version: String(HISTORY_SCHEMA_VERSION) });
      });
      return;
    }
    if (!tables.includes('headbench_history')) {
      throw new UsageError(`${this.file} is a DuckDB database but not a headbench history database (it has no headbench_history table); pass the --db that history add wrote, or a new file name`);
    }
    const meta = Object.fromEntries((await this.all<{ key: string; value: string }>(`select key, value from headbench_history`)).map((r) => [r.key, r.value]));
    if (meta['schema'] !== HISTORY_SCHEMA) throw new UsageError(`${this.file} is not a headbench history database (schema ${JSON.stringify(meta['schema'])})`);
    if (Number(meta['version']) > HISTORY_SCHEMA_VERSION) {
      throw new UsageError(`${this.file} was written by a newer headbench (history schema version ${meta['version']}; this one reads ${HISTORY_SCHEMA_VERSION}); update headbench`);
    }
  }

  async all<T>(sql: string, params?: Record<string, string | number | boolean | null>): Promise<T[]> {
    try {
      const reader = await this.connection.runAndReadAll(sql, params);
      return reader.getRowObjectsJS() as T[];
    } catch (error) {
      throw explain(this.file, error);
    }
  }

  /** Runs `work` in one transaction: all of it is stored, or none (a killed process leaves no half night). */
  async transaction<T>(work: () => Promise<T>): Promise<T> {
    await this.connection.run('begin transaction');
    try {
      const result = await work();
      await this.connection.run('commit');
      return result;
    } catch (error) {
      await this.connection.run('rollback').catch(() => undefined);
      throw explain(this.file, error);
    }
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

export interface NightInput {
  file: string;
  results: RunResults;
}

export interface NightMeta {
  commit?: string;
  time?: string;
  testbed?: string;
}

export interface AddOutcome {
  night: number;
  added: boolean;
  commit: string;
  time: string;
  testbed: string;
  rows: number;
}

/** The input files of one night: each a results.json or a run folder. */
export function readNight(files: readonly string[], cwd: string): NightInput[] {
  if (!files.length) throw new UsageError('history add needs at least one results.json or run folder');
  return files.map((f) => {
    const file = path.resolve(cwd, f, f.endsWith('.json') ? '' : 'results.json');
    return { file, results: readResults(file) };
  });
}

/** The same rows give the same key, whichever files or order they came in. */
export function contentKey(rows: readonly ResultRow[]): string {
  const hash = createHash('sha256');
  for (const row of [...rows].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) hash.update(`${JSON.stringify(row)}\n`);
  return `sha256:${hash.digest('hex')}`;
}

function isoTime(text: string, what: string): string {
  const t = new Date(text);
  if (Number.isNaN(t.getTime())) throw new UsageError(`${what} ${JSON.stringify(text)} is not a time; give an ISO 8601 time such as 2026-01-31T02:00:00Z`);
  return t.toISOString();
}

/** The time of a night: `--time`, else when its first run started. */
function nightTime(results: RunResults, given?: string): string {
  if (given !== undefined) return isoTime(given, '--time');
  const starts = (results.runs ?? []).map((r) => r.startedAt).filter(Boolean).sort();
  return isoTime(starts[0] ?? results.createdAt, 'the results\' start time');
}

const distinct = (values: readonly (string | undefined)[]) => [...new Set(values.filter((v): v is string => !!v))].sort();

/** A night read, merged and described, ready to store: everything that can be wrong with the input is found here, before the database is opened. */
export interface PreparedNight {
  inputs: readonly NightInput[];
  results: RunResults;
  content: string;
  commit: string;
  time: string;
  testbed: string;
}

/** Merges the shards of one night (as `headbench merge` does) and fills in its commit, time and testbed. */
export function prepareNight(inputs: readonly NightInput[], meta: NightMeta): PreparedNight {
  const results = inputs.length === 1 ? inputs[0]!.results : mergeResults(inputs);
  if (!results.rows.length) throw new UsageError(`${inputs.map((i) => i.file).join(', ')} holds no rows; nothing to add`);
  return {
    inputs,
    results,
    content: contentKey(results.rows),
    commit: meta.commit ?? process.env['GITHUB_SHA'] ?? 'unknown',
    time: nightTime(results, meta.time),
    testbed: meta.testbed ?? results.environment.hostname,
  };
}

/**
 * Adds one night in one transaction. The same rows a second time change nothing; other rows under
 * the commit, time and testbed of a stored night are refused. `hold` runs before the commit (tests).
 */
export async function addNight(history: History, night: PreparedNight, hold?: () => Promise<void>): Promise<AddOutcome> {
  const { inputs, results, content, commit, time, testbed } = night;
  const rows = results.rows;
  const env = results.environment;
  const same = await history.all<{ night: number; commit: string; time: string; testbed: string }>(`select night, "commit", time, testbed from nights where content = $content`, { content });
  if (same[0]) return { ...same[0], added: false, rows: rows.length };
  const clash = await history.all<{ night: number }>(`select night from nights where "commit" = $commit and time = $time and testbed = $testbed`, { commit, time, testbed });
  if (clash[0]) {
    throw new UsageError(`night ${clash[0].night} (commit ${commit}, ${time}, testbed ${testbed}) is already stored with other results; a night is added once: give this one its own --time or --commit`);
  }
  const stored = storedNight(results, { commit, time, testbed }, 0);
  return history.transaction(async () => {
    const [{ next }] = (await history.all<{ next: number }>(`select cast(coalesce(max(night), 0) + 1 as integer) as next from nights`)) as [{ next: number }];
    const c = history.connection;
    const n = stored.night;
    await c.run(
      `insert into nights values ($night, $content, $commit, $time, $testbed, $host, $cpu, $cpuFlags, $cores, $tensorflow, $tfjsNode, $onednn, $plugins, $dataset, $fingerprint, $config, $environment, $sources, $addedAt)`,
      {
        night: next,
        content,
        commit,
        time,
        testbed,
        host: env.hostname,
        cpu: n.cpu,
        cpuFlags: (env.cpuFlags ?? []).join(' '),
        cores: env.cores,
        tensorflow: env.libtensorflow,
        tfjsNode: env.tfjsNode,
        onednn: n.onednn,
        plugins: JSON.stringify(distinct(rows.flatMap((r) => [r.plugins.backbone, r.plugins.head, r.plugins.trainer]))),
        dataset: distinct(rows.map((r) => r.dataset)).join(', '),
        fingerprint: JSON.stringify({ val: distinct(rows.map((r) => r.perImage?.val?.fingerprint)), test: distinct(rows.map((r) => r.perImage?.test?.fingerprint)) }),
        config: JSON.stringify(results.config),
        environment: JSON.stringify(env),
        sources: JSON.stringify(inputs.map((i) => i.file)),
        addedAt: new Date().toISOString(),
      },
    );
    for (const [i, r] of stored.rows.entries()) {
      await c.run(`insert into rows values ($night, $id, $backbone, $head, $trainer, $lr, $seed, $status, $finalVal, $bestVal, $test, $step, $inference, $row)`, {
        night: next,
        id: r.id,
        backbone: r.backbone,
        head: r.head,
        trainer: r.trainer,
        lr: r.lr,
        seed: r.seed,
        status: r.status,
        finalVal: r.finalValAccuracy,
        bestVal: rows[i]!.bestValAccuracy,
        test: r.testAccuracy,
        step: r.medianStepMs,
        inference: r.inferenceMs,
        row: JSON.stringify(rows[i]),
      });
    }
    for (const r of stored.records) {
      await c.run(`insert into per_image values ($night, $id, $split, $fingerprint, $images, $correct)`, { night: next, id: r.rowId, split: r.split, fingerprint: r.fingerprint, images: r.images, correct: r.correct });
    }
    await hold?.();
    return { night: next, added: true, commit, time, testbed, rows: rows.length };
  });
}

/** A row as `check` and the report read it. */
export interface StoredRow {
  night: number;
  id: string;
  backbone: string;
  head: string;
  trainer: string;
  lr: number;
  seed: number;
  status: string;
  finalValAccuracy: number | null;
  testAccuracy: number | null;
  medianStepMs: number | null;
  inferenceMs: number | null;
}

export interface StoredNight {
  night: number;
  commit: string;
  time: string;
  testbed: string;
  cpu: string;
  onednn: string;
}

export interface StoredRecord {
  night: number;
  rowId: string;
  split: 'val' | 'test';
  fingerprint: string;
  images: number;
  correct: string;
}

export interface HistoryData {
  nights: StoredNight[];
  rows: StoredRow[];
  records: StoredRecord[];
}

/**
 * A night as `check` and the report read it back: what `addNight` stores, and what tests that
 * build histories in memory use.
 */
export function storedNight(results: RunResults, meta: Required<NightMeta>, night: number): { night: StoredNight; rows: StoredRow[]; records: StoredRecord[] } {
  const rows = results.rows.map((r) => ({
    night,
    id: r.id,
    backbone: r.backbone,
    head: r.head,
    trainer: r.trainer ?? DEFAULT_TRAINER,
    lr: r.lr,
    seed: r.seed,
    status: r.status,
    finalValAccuracy: r.finalValAccuracy,
    testAccuracy: r.testAccuracy ?? null,
    medianStepMs: r.stepTime?.medianMs ?? null,
    inferenceMs: r.bench?.inference.latency.p50 ?? null,
  }));
  const records = results.rows.flatMap((r) =>
    (['val', 'test'] as const).flatMap((split) => {
      const c = r.perImage?.[split];
      return c ? [{ night, rowId: r.id, split, fingerprint: c.fingerprint, images: c.images, correct: c.correct }] : [];
    }),
  );
  return { night: { night, commit: meta.commit, time: meta.time, testbed: meta.testbed, cpu: results.environment.cpu, onednn: describeOneDnn(results.environment.onednn) }, rows, records };
}

/** Everything `check` and `report` need, nights in time order. */
export async function readHistory(history: History): Promise<HistoryData> {
  const nights = await history.all<StoredNight>(`select night, "commit", time, testbed, cpu, onednn from nights order by time, night`);
  const rows = await history.all<StoredRow>(
    `select night, id, backbone, head, trainer, lr, seed, status, final_val_accuracy as "finalValAccuracy", test_accuracy as "testAccuracy", median_step_ms as "medianStepMs", inference_ms as "inferenceMs" from rows order by night, id`,
  );
  const records = await history.all<StoredRecord>(`select night, row_id as "rowId", split, fingerprint, images, correct from per_image order by night, row_id, split`);
  return { nights, rows, records };
}
