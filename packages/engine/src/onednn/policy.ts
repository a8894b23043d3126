import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot } from '../cache-root.js';
import { describeSignal } from '../signals.js';
import { runCases, type CaseOutcome } from './child-runner.js';
import { cpuIdentity, machineKey } from './machine.js';
import { setOneDnnState, type ChannelPair, type OneDnnState, type ProbeMeasurement } from './state.js';

/**
 * Which of TensorFlow's two CPU kernel families headbench runs on, decided before TensorFlow
 * loads: oneDNN's (TF_ENABLE_ONEDNN_OPTS=1) or TensorFlow's own Eigen kernels (=0). TensorFlow
 * turns oneDNN on by default only on some CPUs (AVX-512 with VNNI or BF16, AMX); its wheel
 * compiles the Eigen kernels for AVX without FMA, so where oneDNN works it is usually much faster.
 * But TensorFlow 2.21's oneDNN (3.7) has faults, so a probe decides, in child processes where
 * a crash costs nothing, once per CPU, TensorFlow library and kernel environment:
 *
 * 1. oneDNN's 1x1 convolution for the channel pairs its blocking heuristic singles out (the
 *    "maskrcnn" shapes of brg_blocking_t::est_eff_1x1, which divides by an integer that is 0 for
 *    them) - each pair that dies runs as a matrix product from then on (translate.ts,
 *    kernel-fixes.ts): the same arithmetic on oneDNN's matmul;
 * 2. the training steps of two small networks on the graph engine, one MobileNet-like (depthwise
 *    and 1x1 convolutions: MobileNetV2/V3, EfficientNet) and one ResNet-like (dense 3x3 and 1x1
 *    convolutions), with oneDNN on (at a narrower instruction set if one dies) and off,
 *    alternated twice: each network's weights must agree, and oneDNN is used only where the two
 *    fastest steps together are at least 10% faster. (Measured one at a time, a family can win
 *    one network and lose the other; the verdict records both ratios.)
 *
 * TF_ENABLE_ONEDNN_OPTS set by the user is respected (with the 1x1 avoidance where it is on).
 * The verdict is kept in `<cache>/kernels/onednn-<key>.json`; deleting it probes again.
 */

/** Bump when the probe or its decision changes; older verdicts are probed again. */
export const PROBE_VERSION = 3;

/** The 1x1 convolutions whose blocking heuristic in oneDNN 3.7 takes the integer-division branch. */
export const SUSPECT_1X1_PAIRS: readonly ChannelPair[] = [
  [1024, 2048],
  [1024, 512],
  [256, 1024],
  [512, 1024],
  [512, 2048],
];

/** Narrower instruction sets tried, in order, when the training step dies with oneDNN on. */
const NARROWER_ISAS = ['AVX2', 'AVX'] as const;
/** oneDNN must be this much faster than Eigen to be chosen. */
const SPEED_MARGIN = 0.9;
/** How far oneDNN's weights after one step may be from Eigen's, relative to max(1, |w|): float32 rounding of a BatchNorm network is about 1e-5. */
const AGREEMENT = 1e-3;

export interface Verdict {
  probeVersion: number;
  key: string;
  decidedAt: string;
  cpu: string;
  /** The decision when the user does not choose. */
  enabled: boolean;
  isa?: string;
  reason: string;
  /** 1x1 convolutions that died with oneDNN on. */
  conv1x1Died: { pair: ChannelPair; signal: string }[];
  measured?: OneDnnState['measured'];
  /** Children the probe started and how long it took. */
  probe: { children: number; seconds: number };
}

const ON = ['1', 'true', 'on', 'yes'];
const OFF = ['0', 'false', 'off', 'no'];

export function verdictFile(key: string, root = cacheRoot()): string {
  return path.join(root, 'kernels', `onednn-${key}.json`);
}

function readVerdict(file: string, key: string): Verdict | undefined {
  try {
    const verdict = JSON.parse(fs.readFileSync(file, 'utf8')) as Verdict;
    return verdict.probeVersion === PROBE_VERSION && verdict.key === key ? verdict : undefined;
  } catch {
    return undefined;
  }
}

function writeVerdict(file: string, verdict: Verdict): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, `${JSON.stringify(verdict, null, 2)}\n`);
    fs.renameSync(temporary, file);
  } catch {
    // A cache that cannot be written costs a probe next time, nothing else.
  }
}

/** The probe child: compiled JavaScript, also when this module runs from source (tests). */
export function probeChildScript(): string {
  const here = fileURLToPath(import.meta.url);
  const dist = here.replace(/([\\/])src([\\/]onednn[\\/])policy\.ts$/, '$1dist$2policy.js');
  return path.join(path.dirname(dist), 'probe-child.js');
}

interface TrainData {
  loss: number;
  timesMs: number[];
}

/**
 * The fastest step of each side decides, not the median: other work on a shared machine only
 * ever adds time, and the verdict is kept for good (seen on a Zen 5 while other tests ran: the
 * medians' ratio 0.84x where the quiet machine measured 0.40x).
 */
const fastest = (values: readonly number[]) => (values.length ? Math.min(...values) : Number.NaN);

function maxRelativeDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length || a.length === 0) return Number.POSITIVE_INFINITY;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)) / Math.max(1, Math.abs(b[i] as number)));
  return Number.isNaN(worst) ? Number.POSITIVE_INFINITY : worst;
}

const pairCase = ([i, o]: ChannelPair) => `conv1x1:${i}:${o}`;
const outcomeText = (outcome: CaseOutcome | undefined) => (!outcome ? 'did not run' : outcome.status === 'died' ? `died with ${describeSignal(outcome.signal)}` : outcome.status === 'failed' ? `failed: ${outcome.message}` : 'ran');

export interface ProbeOptions {
  script?: string;
  env?: NodeJS.ProcessEnv;
  /** Where the children write their weights (a temporary folder by default). */
  scratch?: string;
  log?: (line: string) => void;
}

/** The probe's two training networks (probe-child.ts): MobileNet-like and ResNet-like backbones. */
export const PROBE_NETWORKS = ['depthwise', 'dense'] as const;
type ProbeNetwork = (typeof PROBE_NETWORKS)[number];
const trainCase = (network: ProbeNetwork) => `train:${network}`;
const TRAIN_CASES = PROBE_NETWORKS.map(trainCase);

/** Runs the probe: see the module comment. Pure of this process's TensorFlow (it may not be loaded). */
export function probeOneDnn(key: string, options: ProbeOptions = {}): Verdict {
  const started = Date.now();
  const script = options.script ?? probeChildScript();
  const env = options.env ?? process.env;
  const scratch = fs.mkdtempSync(path.join(options.scratch ?? os.tmpdir(), 'headbench-probe-'));
  let children = 0;
  const childEnv = (enabled: boolean, extra: Record<string, string> = {}) => ({ ...env, TF_ENABLE_ONEDNN_OPTS: enabled ? '1' : '0', HEADBENCH_KERNEL_PROBE: '1', TF_CPP_MIN_LOG_LEVEL: '2', ...extra });
  const run = (cases: string[], enabled: boolean, extra: Record<string, string> = {}) => {
    const result = runCases(script, cases, childEnv(enabled, extra));
    children += result.children;
    return result.outcomes;
  };
  const trains = (outcomes: Map<string, CaseOutcome>) => PROBE_NETWORKS.map((network) => outcomes.get(trainCase(network)));
  const weightsOf = (folder: string, network: ProbeNetwork) => {
    const bytes = fs.readFileSync(path.join(folder, `${network}.f32`));
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  };
  // The first failing case of a side, or undefined where every training step ran.
  const failing = (outcomes: (CaseOutcome | undefined)[]) => {
    const i = outcomes.findIndex((o) => o?.status !== 'ok');
    return i < 0 ? undefined : `the ${PROBE_NETWORKS[i]} network's training step ${outcomeText(outcomes[i])}`;
  };
  try {
    const onDir = path.join(scratch, 'on');
    const offDir = path.join(scratch, 'off');
    fs.mkdirSync(onDir);
    fs.mkdirSync(offDir);
    const first = run([...SUSPECT_1X1_PAIRS.map(pairCase), ...TRAIN_CASES], true, { HEADBENCH_PROBE_OUT: onDir });
    const conv1x1Died = SUSPECT_1X1_PAIRS.flatMap((pair) => {
      const outcome = first.get(pairCase(pair));
      return outcome?.status === 'died' ? [{ pair, signal: outcome.signal }] : [];
    });
    const avoid = JSON.stringify(conv1x1Died.map((d) => d.pair));
    let isa: string | undefined;
    let onTrain = trains(first);
    const died = () => onTrain.some((o) => o?.status === 'died');
    const tried: string[] = [`with oneDNN ${failing(onTrain) ?? 'the training steps ran'}`];
    for (const narrower of NARROWER_ISAS) {
      if (!died() || env['ONEDNN_MAX_CPU_ISA']) break;
      isa = narrower;
      onTrain = trains(run(TRAIN_CASES, true, { HEADBENCH_PROBE_OUT: onDir, HEADBENCH_PROBE_AVOID: avoid, ONEDNN_MAX_CPU_ISA: narrower }));
      tried.push(`at ${narrower} ${failing(onTrain) ?? 'they ran'}`);
    }
    const isaEnv: Record<string, string> = isa ? { ONEDNN_MAX_CPU_ISA: isa } : {};
    const offTrain = trains(run(TRAIN_CASES, false, { HEADBENCH_PROBE_OUT: offDir }));
    const base = { probeVersion: PROBE_VERSION, key, decidedAt: new Date().toISOString(), cpu: cpuIdentity().model, conv1x1Died };
    const done = (verdict: Omit<Verdict, keyof typeof base | 'probe'>): Verdict => ({ ...base, ...verdict, probe: { children, seconds: (Date.now() - started) / 1000 } });
    const offFailed = failing(offTrain);
    if (offFailed) return done({ enabled: false, reason: `oneDNN off: TensorFlow's own kernels could not be measured (${offFailed})` });
    if (failing(onTrain)) return done({ enabled: false, reason: `oneDNN off: ${tried.join('; ')}` });
    const differences = PROBE_NETWORKS.map((network) => maxRelativeDifference(weightsOf(onDir, network), weightsOf(offDir, network)));
    // A second round, alternated, so that a slow moment of a shared machine does not decide.
    const onAgain = trains(run(TRAIN_CASES, true, { HEADBENCH_PROBE_AVOID: avoid, ...isaEnv }));
    const offAgain = trains(run(TRAIN_CASES, false));
    const times = (outcomes: (CaseOutcome | undefined)[]) => outcomes.flatMap((o) => (o?.status === 'ok' ? (o.data as TrainData).timesMs : []));
    const networks = Object.fromEntries(
      PROBE_NETWORKS.map((network, i) => [network, { onMs: fastest(times([onTrain[i], onAgain[i]])), offMs: fastest(times([offTrain[i], offAgain[i]])), maxRelativeDifference: differences[i] as number }]),
    ) as Record<ProbeNetwork, ProbeMeasurement>;
    const all = Object.values(networks);
    const onMs = all.reduce((sum, n) => sum + n.onMs, 0);
    const offMs = all.reduce((sum, n) => sum + n.offMs, 0);
    const difference = Math.max(...differences);
    const measured = { onMs, offMs, maxRelativeDifference: difference, networks };
    const isaText = isa ? ` at ${isa} (${tried.join('; ')})` : '';
    const each = PROBE_NETWORKS.map((network) => `${network} ${(networks[network].onMs / networks[network].offMs).toFixed(2)}x`).join(', ');
    const ratio = `${(onMs / offMs).toFixed(2)}x the time of TensorFlow's own kernels (${onMs.toFixed(0)} against ${offMs.toFixed(0)} ms for the fastest steps of the probe's networks: ${each})`;
    if (!(difference <= AGREEMENT)) {
      const worst = PROBE_NETWORKS[differences.indexOf(difference)];
      return done({ enabled: false, ...(isa ? { isa } : {}), reason: `oneDNN off: its training step of the ${worst} network${isaText} ended ${difference.toExponential(1)} away from TensorFlow's own kernels (limit ${AGREEMENT})`, measured });
    }
    if (!(onMs < offMs * SPEED_MARGIN)) return done({ enabled: false, ...(isa ? { isa } : {}), reason: `oneDNN off: its training steps${isaText} took ${ratio}, not 10% faster`, measured });
    return done({ enabled: true, ...(isa ? { isa } : {}), reason: `oneDNN on: its training steps${isaText} took ${ratio} and agreed with them within ${difference.toExponential(1)}`, measured });
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

const avoidance = (died: Verdict['conv1x1Died']): OneDnnState['conv1x1AsMatMul'] =>
  died.length
    ? {
        pairs: died.map((d) => d.pair),
        why: `oneDNN's 1x1 convolution died with ${describeSignal(died[0]!.signal)} for ${died.map((d) => `${d.pair[0]}->${d.pair[1]}`).join(', ')} channels on this CPU`,
      }
    : undefined;

/**
 * Decides the kernel family of this process and sets TF_ENABLE_ONEDNN_OPTS (and
 * ONEDNN_MAX_CPU_ISA where narrowed) accordingly; call before TensorFlow loads.
 */
export function resolveOneDnn(env: NodeJS.ProcessEnv = process.env, log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): OneDnnState {
  const user = env['TF_ENABLE_ONEDNN_OPTS']?.trim().toLowerCase();
  if (env['HEADBENCH_KERNEL_PROBE'] === '1') {
    const pairs = JSON.parse(env['HEADBENCH_PROBE_AVOID'] ?? '[]') as ChannelPair[];
    return { enabled: !OFF.includes(user ?? ''), reason: 'the kernel probe', ...(pairs.length ? { conv1x1AsMatMul: { pairs, why: 'the probe' } } : {}) };
  }
  if (user !== undefined && OFF.includes(user)) return { enabled: false, reason: `TF_ENABLE_ONEDNN_OPTS=${env['TF_ENABLE_ONEDNN_OPTS']} in the environment` };
  const key = machineKey(PROBE_VERSION, env);
  const file = verdictFile(key, cacheRoot(env));
  let verdict = readVerdict(file, key);
  if (!verdict) {
    const script = probeChildScript();
    if (!fs.existsSync(script)) {
      const reason = `oneDNN off: the kernel probe is not built (${script} is missing; run npm run build)`;
      if (user === undefined) env['TF_ENABLE_ONEDNN_OPTS'] = '0';
      return user === undefined ? { enabled: false, reason } : { enabled: true, reason: `TF_ENABLE_ONEDNN_OPTS=${env['TF_ENABLE_ONEDNN_OPTS']} in the environment; ${reason.replace('oneDNN off: ', '')}` };
    }
    log("headbench: checking TensorFlow's oneDNN kernels on this CPU against its own, once per CPU and TensorFlow version (two small networks trained four times each: 38 s on a lightly loaded 2-core EPYC, 2 min under heavy load)...");
    verdict = probeOneDnn(key, { script, env });
    writeVerdict(file, verdict);
    log(`headbench: ${verdict.reason}${verdict.conv1x1Died.length ? `; ${avoidance(verdict.conv1x1Died)!.why}, so they run as matrix products` : ''} (${verdict.probe.seconds.toFixed(0)} s; kept in ${file})`);
  }
  const conv1x1AsMatMul = avoidance(verdict.conv1x1Died);
  const measured = verdict.measured ? { measured: verdict.measured } : {};
  if (user !== undefined && ON.includes(user)) {
    return { enabled: true, reason: `TF_ENABLE_ONEDNN_OPTS=${env['TF_ENABLE_ONEDNN_OPTS']} in the environment`, ...(env['ONEDNN_MAX_CPU_ISA'] ? { isa: env['ONEDNN_MAX_CPU_ISA'] } : {}), ...(conv1x1AsMatMul ? { conv1x1AsMatMul } : {}), ...measured };
  }
  env['TF_ENABLE_ONEDNN_OPTS'] = verdict.enabled ? '1' : '0';
  if (verdict.enabled && verdict.isa && !env['ONEDNN_MAX_CPU_ISA']) env['ONEDNN_MAX_CPU_ISA'] = verdict.isa;
  return { enabled: verdict.enabled, reason: verdict.reason, ...(verdict.enabled && verdict.isa ? { isa: verdict.isa } : {}), ...(verdict.enabled && conv1x1AsMatMul ? { conv1x1AsMatMul } : {}), ...measured };
}

/** Resolves the policy for this process and records it (load-tensorflow.ts calls this first). */
export function applyOneDnnPolicy(): OneDnnState {
  const state = resolveOneDnn();
  setOneDnnState(state);
  return state;
}
