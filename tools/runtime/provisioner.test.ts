import { describe, expect, it } from 'vitest';
import { provision, ProvisionError, type ProbeResult, type Route } from './provisioner.mjs';

/** A probe that answers from a script of results, one per call. */
function scriptedProbe(results: ProbeResult[]) {
  let calls = 0;
  const probe = async () => {
    const r = results[Math.min(calls, results.length - 1)];
    calls += 1;
    return r as ProbeResult;
  };
  return { probe, calls: () => calls };
}

function route(name: string, behaviour: { skip?: string; fail?: string; onRun?: () => void; onSuccess?: () => void }): Route {
  return {
    name,
    describe: `route ${name}`,
    skip: () => behaviour.skip,
    run: async () => {
      behaviour.onRun?.();
      if (behaviour.fail) throw new Error(behaviour.fail);
    },
    afterSuccess: async () => behaviour.onSuccess?.(),
  };
}

const notLoadable: ProbeResult = { ok: false, reason: 'tfjs_binding.node can not be found' };
const loads: ProbeResult = { ok: true, detail: 'backend tensorflow' };
const quiet = () => {};

describe('provision', () => {
  it('does nothing when the addon already loads', async () => {
    const ran: string[] = [];
    const { probe, calls } = scriptedProbe([loads]);
    const result = await provision({ probe, routes: [route('a', { onRun: () => ran.push('a') })], log: quiet, hint: '' });
    expect(result.route).toBe('already-installed');
    expect(ran).toEqual([]);
    expect(calls()).toBe(1);
  });

  it('tries routes in order, skipping the inapplicable, and stops at the first that loads', async () => {
    const ran: string[] = [];
    const cached: string[] = [];
    const { probe } = scriptedProbe([notLoadable, loads]);
    const result = await provision({
      probe,
      routes: [
        route('cache', { skip: 'nothing cached' }),
        route('official', { fail: 'getaddrinfo ENOTFOUND storage.googleapis.com', onRun: () => ran.push('official') }),
        route('wheel', { onRun: () => ran.push('wheel'), onSuccess: () => cached.push('wheel') }),
        route('never', { onRun: () => ran.push('never') }),
      ],
      log: quiet,
      hint: '',
    });
    expect(result.route).toBe('wheel');
    expect(ran).toEqual(['official', 'wheel']);
    expect(cached).toEqual(['wheel']);
    expect(result.attempts.map((a) => `${a.route}:${a.outcome}`)).toEqual([
      'already-installed:rejected',
      'cache:skipped',
      'official:failed',
      'wheel:ok',
    ]);
  });

  it('goes on when a route completes but leaves a runtime that does not load', async () => {
    const { probe } = scriptedProbe([notLoadable, { ok: false, reason: 'undefined symbol: TF_NewStatus' }, loads]);
    const result = await provision({ probe, routes: [route('dir', {}), route('wheel', {})], log: quiet, hint: '' });
    expect(result.route).toBe('wheel');
    expect(result.attempts[1]).toEqual({ route: 'dir', outcome: 'rejected', reason: 'undefined symbol: TF_NewStatus' });
  });

  it('fails with one message naming every route, why it failed, and what to set', async () => {
    const { probe } = scriptedProbe([notLoadable]);
    const error = await provision({
      probe,
      routes: [
        route('cache', { skip: 'no earlier provisioning recorded' }),
        route('official', { fail: 'getaddrinfo ENOTFOUND storage.googleapis.com' }),
        route('wheel', { fail: 'pip download exited with 1: No matching distribution found for tensorflow-cpu==2.21.0' }),
      ],
      log: quiet,
      hint: 'You can set HEADBENCH_LIBTENSORFLOW_DIR',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProvisionError);
    const message = (error as Error).message;
    expect(message).toContain('cache: skipped: no earlier provisioning recorded');
    expect(message).toContain('official: failed: getaddrinfo ENOTFOUND storage.googleapis.com');
    expect(message).toContain('wheel: failed: pip download exited with 1: No matching distribution');
    expect(message).toContain('You can set HEADBENCH_LIBTENSORFLOW_DIR');
  });

  it('keeps a working runtime even when caching it fails', async () => {
    const logged: string[] = [];
    const { probe } = scriptedProbe([notLoadable, loads]);
    const failingCache = route('wheel', {
      onSuccess: () => {
        throw new Error('EACCES: permission denied');
      },
    });
    const result = await provision({ probe, routes: [failingCache], log: (l) => logged.push(l), hint: '' });
    expect(result.route).toBe('wheel');
    expect(logged.some((l) => l.includes('could not cache') && l.includes('EACCES'))).toBe(true);
  });
});
