// What a fault signal means, for messages: imported without TensorFlow (package subpath
// `@headbench/engine/signals`), by the command that watches a run's process.

/** Signals by which native code dies (a run is not stopped by these on purpose). */
export const FAULT_SIGNALS: readonly string[] = ['SIGFPE', 'SIGSEGV', 'SIGILL', 'SIGBUS', 'SIGABRT'];

const MEANING: Record<string, string> = {
  SIGFPE: 'an arithmetic fault such as an integer division by zero',
  SIGSEGV: 'an invalid memory access',
  SIGILL: 'an illegal instruction',
  SIGBUS: 'a bus error',
  SIGABRT: 'an abort, such as a failed check',
};

/** `SIGFPE (an arithmetic fault such as an integer division by zero)`. */
export function describeSignal(signal: string): string {
  return MEANING[signal] ? `${signal} (${MEANING[signal]})` : signal;
}
