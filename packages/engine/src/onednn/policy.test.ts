import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCases } from './child-runner.js';
import { cpuIdentityFrom, machineKey } from './machine.js';
import { PROBE_NETWORKS, PROBE_VERSION, probeChildScript, probeOneDnn, resolveOneDnn, SUSPECT_1X1_PAIRS, verdictFile } from './policy.js';

// The probe's machinery with a stand-in child (fixtures/fake-child.mjs) that dies by real signals
// where told to: the crashes of oneDNN this project saw on AVX-512 machines, made to happen on any
// CPU. probe-child.js itself, on the real kernels, runs at the end (and as the CLI tests' global setup).
const FAKE = fileURLToPath(new URL('./fixtures/fake-child.mjs', import.meta.url));
const base = { PATH: process.env['PATH'] ?? '', HOME: os.homedir() };

describe('probe children', () => {
  it('charge a death by signal to the case that was running and go on with the next in a new child', () => {
    const run = runCases(FAKE, ['a', 'b', 'c', 'd'], { ...base, FAKE_DIE: 'b=SIGFPE,c=SIGSEGV' });
    expect(Object.fromEntries(run.outcomes)).toEqual({
      a: { status: 'ok', data: null },
      b: { status: 'died', signal: 'SIGFPE' },
      c: { status: 'died', signal: 'SIGSEGV' },
      d: { status: 'ok', data: null },
    });
    expect(run.children).toBe(3);
  });

  it('stop at a JavaScript failure, naming it, instead of retrying', () => {
    const run = runCases(FAKE, ['a', 'fail', 'b'], base);
    expect(run.outcomes.get('a')).toEqual({ status: 'ok', data: null });
    expect(run.outcomes.get('fail')).toMatchObject({ status: 'failed', message: expect.stringContaining('a JavaScript error in the child') });
    expect(run.outcomes.get('b')).toEqual({ status: 'failed', message: 'not run: the probe child failed in fail' });
    expect(run.children).toBe(1);
  });
});

const probe = (env: Record<string, string>) => probeOneDnn('k', { script: FAKE, env: { ...base, FAKE_TRAIN_MS_ON: '10', FAKE_TRAIN_MS_OFF: '80', ...env } });
const dieAll = SUSPECT_1X1_PAIRS.map(([i, o]) => `conv1x1:${i}:${o}=SIGFPE`).join(',');

describe('the oneDNN verdict', () => {
  it('keeps oneDNN where it is faster and agrees, and avoids each 1x1 convolution that died', () => {
    const verdict = probe({ FAKE_DIE: `conv1x1:512:1024=SIGFPE,conv1x1:256:1024=SIGILL` });
    expect(verdict.enabled).toBe(true);
    expect(verdict.isa).toBeUndefined();
    expect(verdict.conv1x1Died).toEqual([
      { pair: [256, 1024], signal: 'SIGILL' },
      { pair: [512, 1024], signal: 'SIGFPE' },
    ]);
    expect(verdict.reason).toBe("oneDNN on: its training steps took 0.13x the time of TensorFlow's own kernels (20 against 160 ms for the fastest steps of the probe's networks: depthwise 0.13x, dense 0.13x) and agreed with them within 0.0e+0");
    const each = { onMs: 10, offMs: 80, maxRelativeDifference: 0 };
    expect(verdict.measured).toEqual({ onMs: 20, offMs: 160, maxRelativeDifference: 0, networks: { depthwise: each, dense: each } });
  });

  it('narrows the instruction set where the training step dies, and tells what it tried', () => {
    const verdict = probe({ FAKE_DIE: `${dieAll},train:dense@none=SIGFPE,train:depthwise@AVX2=SIGFPE` });
    expect(verdict.enabled).toBe(true);
    expect(verdict.isa).toBe('AVX');
    expect(verdict.reason).toMatch(/^oneDNN on: its training steps at AVX \(with oneDNN the dense network's training step died with SIGFPE \(an arithmetic fault such as an integer division by zero\); at AVX2 the depthwise network's training step died with SIGFPE .*; at AVX they ran\) took 0.13x/);
  });

  it('turns oneDNN off where it dies at every instruction set', () => {
    const verdict = probe({ FAKE_DIE: 'train:depthwise@none=SIGSEGV,train:depthwise@AVX2=SIGSEGV,train:depthwise@AVX=SIGSEGV' });
    expect(verdict.enabled).toBe(false);
    expect(verdict.reason).toMatch(/^oneDNN off: with oneDNN the depthwise network's training step died with SIGSEGV \(an invalid memory access\); at AVX2 the depthwise network's training step died .*; at AVX the depthwise network's training step died/);
  });

  it('turns oneDNN off where its results differ from TensorFlow own kernels', () => {
    const verdict = probe({ FAKE_WEIGHT_ON: '1.5' });
    expect(verdict.enabled).toBe(false);
    expect(verdict.reason).toBe("oneDNN off: its training step of the dense network ended 5.0e-1 away from TensorFlow's own kernels (limit 0.001)");
  });

  it('turns oneDNN off where it is not 10% faster', () => {
    const verdict = probe({ FAKE_TRAIN_MS_ON: '75', FAKE_TRAIN_MS_OFF: '80' });
    expect(verdict.enabled).toBe(false);
    expect(verdict.reason).toMatch(/^oneDNN off: its training steps took 0.94x the time of TensorFlow's own kernels .*, not 10% faster$/);
  });

  it('weighs both networks: faster for one and slower for the other is decided by the two steps together, and both ratios are said', () => {
    // As on the AVX2 EPYC if ResNet-like networks lost with oneDNN: the depthwise network 0.5x, the dense one 1.5x.
    const lose = probe({ FAKE_TRAIN_MS_ON: '50', FAKE_TRAIN_MS_OFF_DEPTHWISE: '100', FAKE_TRAIN_MS_ON_DENSE: '300', FAKE_TRAIN_MS_OFF: '200' });
    expect(lose.enabled).toBe(false);
    expect(lose.reason).toContain('1.17x the time of TensorFlow\'s own kernels (350 against 300 ms for the fastest steps of the probe\'s networks: depthwise 0.50x, dense 1.50x), not 10% faster');
    const win = probe({ FAKE_TRAIN_MS_ON: '50', FAKE_TRAIN_MS_OFF_DEPTHWISE: '100', FAKE_TRAIN_MS_ON_DENSE: '110', FAKE_TRAIN_MS_OFF: '100' });
    expect(win.enabled).toBe(true);
    expect(win.measured?.networks).toEqual({ depthwise: { onMs: 50, offMs: 100, maxRelativeDifference: 0 }, dense: { onMs: 110, offMs: 100, maxRelativeDifference: 0 } });
  });
});

describe('the policy of a process', () => {
  const withCache = (run: (root: string) => void) => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hb-policy-'));
    try {
      run(root);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  };

  it('respects TF_ENABLE_ONEDNN_OPTS=0 without probing', () => {
    withCache((root) => {
      const env: NodeJS.ProcessEnv = { ...base, HEADBENCH_CACHE_DIR: root, TF_ENABLE_ONEDNN_OPTS: '0' };
      expect(resolveOneDnn(env, () => undefined)).toEqual({ enabled: false, reason: 'TF_ENABLE_ONEDNN_OPTS=0 in the environment' });
      expect(fs.existsSync(path.join(root, 'kernels'))).toBe(false);
    });
  });

  it('applies a kept verdict: sets TF_ENABLE_ONEDNN_OPTS, and with the user`s =1 keeps the 1x1 avoidance', () => {
    withCache((root) => {
      const env: NodeJS.ProcessEnv = { ...base, HEADBENCH_CACHE_DIR: root };
      const key = machineKey(PROBE_VERSION, env);
      const verdict = { ...probe({ FAKE_DIE: 'conv1x1:512:1024=SIGFPE' }), key };
      fs.mkdirSync(path.join(root, 'kernels'));
      fs.writeFileSync(verdictFile(key, root), JSON.stringify(verdict));
      const lines: string[] = [];
      const state = resolveOneDnn(env, (line) => lines.push(line));
      expect(lines).toEqual([]);
      expect(env['TF_ENABLE_ONEDNN_OPTS']).toBe('1');
      expect(state).toMatchObject({ enabled: true, reason: verdict.reason, conv1x1AsMatMul: { pairs: [[512, 1024]] } });
      const forced = resolveOneDnn({ ...base, HEADBENCH_CACHE_DIR: root, TF_ENABLE_ONEDNN_OPTS: '1' }, () => undefined);
      expect(forced).toMatchObject({ enabled: true, reason: 'TF_ENABLE_ONEDNN_OPTS=1 in the environment', conv1x1AsMatMul: { pairs: [[512, 1024]] } });
    });
  });

  it('keys a verdict by CPU, flags, TensorFlow and the kernel environment', () => {
    const cpuinfo = 'processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512_bf16 hypervisor\n\nprocessor\t: 1\n';
    const cpu = cpuIdentityFrom(cpuinfo, 2);
    expect(cpu).toEqual({ model: 'AMD EPYC', flags: ['avx', 'avx2', 'avx512_bf16', 'avx512f', 'fma', 'sse2'], logicalCpus: 2 });
    const key = machineKey(1, {}, cpu, 'lib:1:2');
    expect(machineKey(1, {}, cpu, 'lib:1:2')).toBe(key);
    expect(machineKey(1, {}, { ...cpu, flags: ['avx', 'avx2', 'fma'] }, 'lib:1:2')).not.toBe(key);
    expect(machineKey(1, {}, cpu, 'lib:1:3')).not.toBe(key);
    expect(machineKey(1, { ONEDNN_MAX_CPU_ISA: 'AVX2' }, cpu, 'lib:1:2')).not.toBe(key);
    expect(machineKey(2, {}, cpu, 'lib:1:2')).not.toBe(key);
  });
});

describe('the real probe child', () => {
  it('trains each probe network on the graph engine, in this project`s kernel family, and writes its weights', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'hb-probe-child-'));
    try {
      const cases = PROBE_NETWORKS.map((n) => `train:${n}`);
      const env = { ...process.env, HEADBENCH_KERNEL_PROBE: '1', HEADBENCH_PROBE_OUT: out, TF_ENABLE_ONEDNN_OPTS: process.env['TF_ENABLE_ONEDNN_OPTS'] ?? '0' };
      const run = runCases(probeChildScript(), cases, env);
      for (const name of cases) {
        const outcome = run.outcomes.get(name);
        expect(outcome?.status, `${name}: ${JSON.stringify(outcome)}`).toBe('ok');
        const data = (outcome as { data: { loss: number; timesMs: number[] } }).data;
        expect(Number.isFinite(data.loss)).toBe(true);
        expect(data.timesMs).toHaveLength(8);
        const weights = new Float32Array(fs.readFileSync(path.join(out, `${name.split(':')[1]}.f32`)).buffer.slice(0));
        expect(weights.length).toBeGreaterThan(10_000);
        expect(weights.every(Number.isFinite)).toBe(true);
      }
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  }, 180_000);
});
