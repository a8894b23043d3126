/**
 * An error caused by what the user asked for (a bad option, a missing file, an unknown plugin)
 * or by the machine it runs on (a full disk, a read-only folder). The CLI prints its message
 * alone, without a stack trace: the message must say what was wrong and how to fix it.
 */
export class UsageError extends Error {
  override name = 'UsageError';
  /**
   * The exit code: 2 when nothing was done; 1 when the command finished part of its work first
   * (a run whose finished rows are kept in results.json).
   */
  readonly exitCode: 1 | 2;

  constructor(message: string, options?: ErrorOptions & { exitCode?: 1 | 2 }) {
    super(message, options);
    this.exitCode = options?.exitCode ?? 2;
  }
}
