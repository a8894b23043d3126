import { createRequire } from 'node:module';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
// The formats of @headbench/results' formatTable, repeated so that --help does not load TensorFlow.
const FORMATS = ['md', 'csv', 'json'] as const;

// Only commander is imported up front: `--help` and usage mistakes answer without loading
// TensorFlow (about a second). Commands import their modules when they run.

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };
// The built-in trainers, for --help (builtins.ts registers them; cli.test.ts checks the two agree).
export const TRAINERS = 'sgd, adam, adamw, rmsprop';

/** A command's modules did not load: a broken install or runtime, not a bug in headbench. */
class SetupError extends Error {
  override name = 'SetupError';
}

async function load<M>(importer: () => Promise<M>): Promise<M> {
  try {
    return await importer();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const missing = (error as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND';
    throw new SetupError(missing ? `${message}; run npm install (or npm run build) first` : message, { cause: error });
  }
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function integer(min: number) {
  return (text: string) => {
    const n = Number(text);
    if (!/^\s*\d+\s*$/.test(text) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
    return n;
  };
}

function positive(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number > 0');
  return n;
}

function fraction(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !(n > 0 && n < 1)) throw new InvalidArgumentError('expected a fraction between 0 and 1, e.g. 0.2');
  return n;
}

function fraction0(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !(n >= 0 && n < 1)) throw new InvalidArgumentError('expected a number in [0, 1), e.g. 0.9');
  return n;
}

function collectNumbers(parse: (text: string) => number) {
  return (value: string, previous: number[] = []) => [...previous, parse(value)];
}

/** The backbone x head axes and input size that params and bench take alike (run's defaults come from its preset). */
function crossProductOptions(command: Command): Command {
  return command
    .option('--backbone <spec>', 'backbone as name or name:key=value,...; repeatable (default: mobilenetv2)', collect)
    .option('--head <spec>', 'head as name or name:key=value,...; repeatable (default: gap and flatten)', collect)
    .option('--input-size <pixels>', 'square input size (default: 224)', integer(1));
}

export function createProgram(): Command {
  const program = new Command('headbench')
    .description('Benchmark image-classification heads on pretrained backbones.')
    .version(version)
    .option('--config <file>', 'config file (default: headbench.config.js or .mjs in the current directory)')
    .option('--plugin <package>', 'load a plugin package or module file; repeatable', collect)
    .option('--verbose', 'show stack traces of errors')
    // main() reports errors, as one line; set before the commands so that they inherit it.
    .exitOverride()
    .configureOutput({ outputError: () => undefined });

  crossProductOptions(program
    .command('params')
    .description('print the parameter counts of every backbone x head, without training'))
    .option('--classes <n>', 'number of classes', integer(2))
    .option('--trainer <spec>', 'also a row per trainer, with the parameters its first stage trains (the head alone when it freezes the backbone); repeatable', collect)
    .option('--epochs <n>', 'epochs the trainers\' recipes are made for (default: 5)', integer(1))
    .addOption(new Option('--format <format>', 'output format').choices(FORMATS).default('md'))
    .action(async (_options: unknown, command: Command) => {
      const { runParams } = await load(() => import('./commands/params.js'));
      process.stdout.write(await runParams(command.optsWithGlobals(), process.cwd()));
    });

  program
    .command('run')
    .description('train every backbone x head x trainer x lr x seed combination and report accuracy, parameters and step time')
    .addOption(new Option('--preset <name>', 'start from a preset: default (offline, a few minutes), seed (the original experiment at full size, on your --train/--val), recipes (gap and flatten with sgd at lr 0.1 and 0.01 and adam at 1e-3 and 1e-4, offline), backbones (gap and flatten on the five other backbones, needs their ImageNet files), heads (every built-in head against gap, three seeds, a test split, offline, 58 min on 2 busy cores), nightly (gap, flatten and gmp, three seeds, offline) or probe (linear probes of every built-in head on a frozen backbone, on its cached features, three seeds, offline, 7-8 min on 2 busy cores)').default(undefined, 'default'))
    .option('--backbone <spec>', 'backbone as name or name:key=value,...; repeatable (default: the preset\'s)', collect)
    .option('--head <spec>', 'head as name or name:key=value,...; repeatable (default: the preset\'s, gap and flatten)', collect)
    .option('--trainer <spec>', `trainer as name or name:key=value,...: ${TRAINERS}; repeatable (default: the preset's, sgd)`, collect)
    .option('--lr <rate>', 'learning rate, of every trainer; repeatable (default: the preset\'s, 0.1 and 0.01)', collectNumbers(positive))
    .option('--seed <n>', 'seed for initialisation and data order; repeatable (default: 1)', collectNumbers(integer(0)))
    .option('--train <dir>', 'training images as <dir>/<class>/<image> (default: the preset\'s; the bundled flowers-mini)')
    .option('--val <dir>', 'validation images with the same class folders as --train')
    .option('--val-split <fraction>', 'instead of --val: hold out this fraction of --train, chosen with the first seed', fraction)
    .option('--test <dir>', 'test images with the same class folders, evaluated once per combination after training; the best-lr verdicts are reported on them')
    .option('--test-split <fraction>', 'instead of --test: hold out this fraction of --train as a test split', fraction)
    .option('--baseline <head>', 'the head every other head is compared with, paired by seed and image (default: the first --head, gap in the presets)')
    .option('--tensorboard <dir>', 'also write every combination\'s per-epoch losses and accuracies as TensorBoard event files, one run folder per combination')
    .addOption(new Option('--dataset <name>', 'a built-in dataset instead of image folders').choices(['synthetic']))
    .option('--classes <n>', 'classes of --dataset synthetic (default: 3)', integer(2))
    .option('--images-per-class <n>', 'training images per class of --dataset synthetic; val gets half (default: 24)', integer(1))
    .option('--epochs <n>', 'epochs per combination (default: the preset\'s; 5)', integer(1))
    .option('--batch-size <n>', 'images per training step (default: 32)', integer(1))
    .option('--input-size <pixels>', 'square input size (default: the preset\'s; 96 for default, 224 for seed)', integer(1))
    .option('--momentum <m>', 'SGD momentum, the same as --trainer sgd:momentum=<m> (default: 0, plain SGD as in the seed experiment)', fraction0)
    .option('--diverge-loss <loss>', 'a training loss above this (or NaN) marks the combination diverged and stops it (default: 1000)', positive)
    .option('--memory-budget <size>', 'decoded images up to this size (uint8) stay in memory, larger datasets are read from the image cache batch by batch; so do a frozen backbone\'s cached features, within a budget of their own of this size (default: 2GB)')
    .option('--out <dir>', 'folder for results.json, results.csv and summary.md (default: headbench-results/<preset>-<time>)')
    .option('--resume', 'continue the run in --out (same settings and plan): finished combinations are kept and skipped')
    .addOption(new Option('--extend', 'add this plan\'s combinations to the results in --out (same settings, other backbones/heads/lr/seeds): every finished row is kept').conflicts('resume'))
    .option('--shard <i/n>', 'run only the i-th of n deterministic slices of the plan (for several machines; join with headbench merge)')
    .option('--no-feature-cache', 'train every stage on the images through the whole model, also where the backbone is frozen (by default a frozen, unaugmented stage trains the head on the backbone\'s features, computed once and kept in the feature cache)')
    .option('--no-bench', 'skip the tinybench timings (train step, inference at batch size and 1) after each combination')
    .option('--quiet', 'no progress output; the table is still printed')
    .action(async (_options: unknown, command: Command) => {
      // Trained in a child process this one watches, so that a native crash costs one combination
      // (supervise.ts); HEADBENCH_NATIVE_GUARD=0 trains in this process.
      const { continuation, superviseRun, WORKER_ENV } = await load(() => import('./supervise.js'));
      if (!process.env[WORKER_ENV] && process.env['HEADBENCH_NATIVE_GUARD'] !== '0') {
        process.exitCode = await superviseRun(process.argv.slice(2));
        return;
      }
      const { runCommand } = await load(() => import('./commands/run.js'));
      const outcome = await runCommand(command.optsWithGlobals(), process.cwd(), process.argv.slice(2), continuation());
      process.stdout.write(`${outcome.table}\nresults: ${outcome.outDir}\n${outcome.tensorboard ? `tensorboard: tensorboard --logdir ${outcome.tensorboard}\n` : ''}`);
      process.exitCode = outcome.exitCode;
    });

  const cache = program
    .command('cache')
    .description('list or clear the image cache (decoded images kept per folder, input size and interpolation) and the feature cache (a frozen backbone\'s features of them), in $HEADBENCH_CACHE_DIR, $XDG_CACHE_HOME/headbench or ~/.cache/headbench');
  cache
    .command('list')
    .description('list the cached image folders with their input size, images and size on disk, then the cached features')
    .action(async () => {
      const { cacheList } = await load(() => import('./commands/cache.js'));
      process.stdout.write(cacheList());
    });
  cache
    .command('clear')
    .description('remove cached images and features: all of them, or those of the given image folders (the native runtime cached beside them is kept)')
    .argument('[folders...]', 'image folders (--train or --val folders) whose images and features to remove')
    .action(async (folders: string[]) => {
      const { cacheClear } = await load(() => import('./commands/cache.js'));
      process.stdout.write(cacheClear(folders, process.cwd()));
    });

  program
    .command('merge')
    .description('join the results of shards (--shard i/n) of one plan')
    .argument('<results...>', 'results.json files, or the --out folders of the shards')
    .requiredOption('--out <dir>', 'folder for the merged results.json, results.csv and summary.md')
    .action(async (files: string[], options: { out: string }) => {
      const { mergeCommand } = await load(() => import('./commands/merge.js'));
      process.stdout.write(mergeCommand(files, options.out, process.cwd(), process.argv.slice(2)));
    });

  crossProductOptions(program
    .command('bench')
    .description('time the training step and inference of every backbone x head x trainer with tinybench, on random input (no dataset)'))
    .option('--trainer <spec>', 'trainer whose step is timed, as name or name:key=value,...; repeatable (default: sgd)', collect)
    .option('--batch-size <n>', 'images per training step and per inference call', integer(1), 32)
    .option('--classes <n>', 'number of classes of the head', integer(2), 5)
    .option('--lr <rate>', 'learning rate of the timed step', positive, 0.01)
    .option('--epochs <n>', 'epochs the trainers\' recipes are made for: their schedules and stages', integer(1), 5)
    .option('--seed <n>', 'seed of initialisation and input', integer(0), 1)
    .option('--min-samples <n>', 'fewest timed calls per task, after warm-up', integer(2), 10)
    .option('--min-time <ms>', 'time each task at least this long', integer(0), 2000)
    .addOption(new Option('--format <format>', 'output format').choices(FORMATS).default('md'))
    .option('--quiet', 'no progress lines')
    .action(async (_options: unknown, command: Command) => {
      const { runBench } = await load(() => import('./commands/bench.js'));
      const options = command.optsWithGlobals<import('./commands/bench.js').BenchOptions>();
      const log = (line: string) => void (options.quiet || process.stderr.write(`${line}\n`));
      process.stdout.write((await runBench(options, process.cwd(), log)).text);
    });

  program
    .command('report')
    .description('write a self-contained HTML report (learning curves, accuracy vs parameters, step times) and print the Markdown summary')
    .argument('<results>', 'a results.json, or a run\'s --out folder')
    .option('--out <file>', 'the HTML file (default: report.html beside results.json)')
    .option('--markdown <file>', 'also write the Markdown summary to this file (e.g. $GITHUB_STEP_SUMMARY)')
    .option('--title <text>', 'the page title')
    .action(async (input: string, options: { out?: string; markdown?: string; title?: string }) => {
      const { reportCommand } = await load(() => import('./commands/report.js'));
      process.stdout.write(reportCommand(input, options, process.cwd()));
    });

  program
    .command('compare')
    .description('compare current results with a baseline: exit 1 on a regression beyond both its threshold and the measured noise, or a missing combination')
    .argument('<baseline>', 'the baseline results.json or run folder')
    .argument('<current>', 'the current results.json or run folder')
    .option('--step-time <fraction>', 'flag a median train step slower by more than this fraction', positive, 0.1)
    .option('--accuracy <points>', 'flag a final val accuracy lower by more than this, in [0, 1]', positive, 0.02)
    .addOption(new Option('--format <format>', 'output format').choices(['md', 'json']).default('md'))
    .action(async (baseline: string, current: string, options: { stepTime: number; accuracy: number; format: 'md' | 'json' }) => {
      const { compareCommand } = await load(() => import('./commands/compare.js'));
      const outcome = compareCommand(baseline, current, options, process.cwd());
      process.stdout.write(outcome.text);
      process.exitCode = outcome.exitCode;
    });

  const history = program
    .command('history')
    .description('keep every night in an embedded database (DuckDB) and find the nights where a cell\'s accuracy or timing shifted');
  const db = () => new Option('--db <file>', 'the history database').default('headbench-history.duckdb');
  history
    .command('add')
    .description('add one night: a results.json or run folder, or the shards of one night (merged); the same night twice changes nothing')
    .argument('<results...>', 'results.json files, or run folders, of one night')
    .addOption(db())
    .option('--commit <id>', 'the commit the night ran (default: $GITHUB_SHA, else unknown)')
    .option('--time <iso>', 'when the night ran, ISO 8601 (default: when its first run started)')
    .option('--testbed <name>', 'the machine kind whose timings are compared with each other (default: the host name; name the runner type in CI)')
    .action(async (files: string[], options: { db: string; commit?: string; time?: string; testbed?: string }) => {
      const { historyAdd } = await load(() => import('./commands/history.js'));
      process.stdout.write(await historyAdd(files, options, process.cwd()));
    });
  history
    .command('check')
    .description('list the change points of every cell and metric; exit 1 when the newest night revealed a worse one')
    .addOption(db())
    .option('--fdr <q>', 'false discovery rate over all the series checked (default: 0.05)', fraction)
    .addOption(new Option('--format <format>', 'output format').choices(['md', 'json']).default('md'))
    .action(async (options: { db: string; fdr?: number; format: 'md' | 'json' }) => {
      const { historyCheck } = await load(() => import('./commands/history.js'));
      const outcome = await historyCheck(options, process.cwd());
      process.stdout.write(outcome.text);
      process.exitCode = outcome.exitCode;
    });
  history
    .command('report')
    .description('write history.html (per cell: accuracy per night with its band, timings per testbed, change points) and history.md, and print the Markdown')
    .addOption(db())
    .requiredOption('--out <dir>', 'folder for history.html and history.md')
    .option('--markdown <file>', 'also write the Markdown summary to this file (e.g. $GITHUB_STEP_SUMMARY)')
    .option('--title <text>', 'the page title')
    .action(async (options: { db: string; out: string; markdown?: string; title?: string }) => {
      const { historyReportCommand } = await load(() => import('./commands/history.js'));
      process.stdout.write(await historyReportCommand(options, process.cwd()));
    });

  program
    .command('export')
    .description("write results in another tool's format: gab = github-action-benchmark's customSmallerIsBetter and customBiggerIsBetter JSON")
    .argument('<results>', 'a results.json, or a run\'s --out folder')
    .addOption(new Option('--format <format>', 'the target format').choices(['gab']).default('gab'))
    .requiredOption('--out <dir>', 'folder for smaller-is-better.json and bigger-is-better.json')
    .action(async (input: string, options: { out: string }) => {
      const { exportGab } = await load(() => import('./commands/export.js'));
      process.stdout.write(exportGab(input, options.out, process.cwd()));
    });

  return program;
}

function oneLine(text: string): string {
  return text.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
}

function stacks(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e !== undefined; e = e instanceof Error ? e.cause : undefined) {
    parts.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
  }
  return parts.join('\nCaused by: ');
}

/**
 * Writes the error for people and returns the exit code: 2 for usage errors (1 for one that came
 * after part of the work was done and kept, such as a disk that filled after some rows), 1 otherwise.
 */
export function report(error: unknown, verbose: boolean, write: (text: string) => void): number {
  if (error instanceof CommanderError) {
    // Help and --version arrive here too, with exit code 0 and nothing left to print.
    if (error.exitCode === 0) return 0;
    // Bare `headbench` has printed its help already.
    if (error.code !== 'commander.help') write(`headbench: ${oneLine(error.message)}\n`);
    return 2;
  }
  // By name, not instanceof: a plugin may bring its own copy of @headbench/core.
  if (error instanceof Error && error.name === 'UsageError') {
    write(`headbench: ${oneLine(error.message)}\n${verbose ? `${stacks(error)}\n` : ''}`);
    return (error as { exitCode?: unknown }).exitCode === 1 ? 1 : 2;
  }
  if (error instanceof SetupError) {
    write(`headbench: ${error.message}\n${verbose ? `${stacks(error)}\n` : ''}`);
    return 1;
  }
  const message = error instanceof Error ? error.message : String(error);
  write(`headbench: ${message}\n${verbose ? `${stacks(error)}\n` : ''}(this is a bug, please report it with --verbose output)\n`);
  return 1;
}

/** Runs the command line `argv` (without node and the script) and returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    await createProgram().parseAsync(argv, { from: 'user' });
    // A command that finished with failures (run's error rows) has set the code.
    return Number(process.exitCode ?? 0);
  } catch (error) {
    // Checked in argv as well: a parse error leaves the options unparsed.
    return report(error, argv.includes('--verbose'), (text) => process.stderr.write(text));
  }
}
