// @headbench/errors: what went wrong, in words. A UsageError is printed by the CLI as its message
// alone, with its exit code; the filesystem's errors become one such line naming the path, what
// the system said and what to do.
export { UsageError } from './errors.js';
export { fileSystemError, explainFileErrors, describeSystemError, makeFolder, systemErrorCode, writeFileAtomic } from './files.js';
