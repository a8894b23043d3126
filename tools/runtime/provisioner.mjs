// @ts-check
// The decision logic of runtime provisioning, kept free of I/O so its choices can be tested:
// probe first, then each route in order until one leaves a runtime that the probe accepts.

/**
 * @typedef {{ ok: true, detail: string } | { ok: false, reason: string }} ProbeResult
 * @typedef {{
 *   name: string,
 *   describe: string,
 *   skip?: () => string | undefined | Promise<string | undefined>,
 *   run: () => Promise<void>,
 *   afterSuccess?: () => Promise<void>,
 * }} Route
 * @typedef {{ route: string, outcome: 'skipped' | 'failed' | 'rejected' | 'ok', reason: string }} Attempt
 * @typedef {{ route: string, detail: string, attempts: Attempt[] }} ProvisionSuccess
 */

export class ProvisionError extends Error {
  /** @param {Attempt[]} attempts @param {string} hint */
  constructor(attempts, hint) {
    const lines = attempts.map((a) => `  - ${a.route}: ${a.outcome}: ${a.reason}`);
    super(
      [
        'headbench could not provide a working TensorFlow runtime for @tensorflow/tfjs-node.',
        'Routes tried, in order:',
        ...lines,
        hint,
      ].join('\n'),
    );
    this.name = 'ProvisionError';
    this.attempts = attempts;
  }
}

/** @param {unknown} error */
export function reasonOf(error) {
  if (error instanceof Error) return error.message.split('\n').filter(Boolean).slice(0, 6).join(' | ');
  return String(error);
}

/**
 * @param {{
 *   probe: () => Promise<ProbeResult>,
 *   routes: Route[],
 *   log: (line: string) => void,
 *   hint: string,
 * }} deps
 * @returns {Promise<ProvisionSuccess>}
 */
export async function provision({ probe, routes, log, hint }) {
  const first = await probe();
  if (first.ok) {
    return { route: 'already-installed', detail: first.detail, attempts: [] };
  }
  log(`native runtime not loadable yet (${first.reason})`);

  /** @type {Attempt[]} */
  const attempts = [{ route: 'already-installed', outcome: 'rejected', reason: first.reason }];
  for (const route of routes) {
    const skipReason = route.skip ? await route.skip() : undefined;
    if (skipReason) {
      attempts.push({ route: route.name, outcome: 'skipped', reason: skipReason });
      continue;
    }
    log(`trying ${route.name}: ${route.describe}`);
    try {
      await route.run();
    } catch (error) {
      const reason = reasonOf(error);
      log(`${route.name} failed: ${reason}`);
      attempts.push({ route: route.name, outcome: 'failed', reason });
      continue;
    }
    const after = await probe();
    if (!after.ok) {
      log(`${route.name} finished but the runtime does not load: ${after.reason}`);
      attempts.push({ route: route.name, outcome: 'rejected', reason: after.reason });
      continue;
    }
    attempts.push({ route: route.name, outcome: 'ok', reason: after.detail });
    if (route.afterSuccess) {
      try {
        await route.afterSuccess();
      } catch (error) {
        // The runtime works; failing to cache it only costs time on the next install.
        log(`warning: could not cache the runtime for later installs: ${reasonOf(error)}`);
      }
    }
    return { route: route.name, detail: after.detail, attempts };
  }
  throw new ProvisionError(attempts, hint);
}
