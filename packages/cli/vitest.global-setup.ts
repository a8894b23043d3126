import { probeKernelsOnce } from './src/testing/cli.js';

// The kernel probe runs once before the CLI's tests, so that no test's stderr carries its lines.
export default function setup(): void {
  probeKernelsOnce();
}
