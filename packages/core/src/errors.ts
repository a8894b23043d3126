/**
 * An error caused by what the user asked for (a bad option, a missing file, an unknown plugin).
 * The CLI prints its message alone, without a stack trace: the message must say what was wrong
 * and how to fix it.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}
