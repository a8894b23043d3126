import { defineConfig } from 'vitest/config';

// Tests import sibling packages from source (the `@headbench/source` export condition), so a
// change in core is tested in every package without a build in between.
const conditions = ['@headbench/source'];

export const sharedConfig = defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ['src/**/*.test.ts', 'generators/**/*.test.ts', 'runtime/**/*.test.ts'],
    // tfjs-node's native addon is safest in child processes; TensorFlow uses both cores itself,
    // so test files run one at a time.
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
    env: { TF_CPP_MIN_LOG_LEVEL: '2' },
  },
});
