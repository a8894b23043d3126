import { defineConfig, mergeConfig, type ViteUserConfig } from 'vitest/config';

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
    maxWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 300_000,
    env: { TF_CPP_MIN_LOG_LEVEL: '2' },
  },
});

/**
 * The shared config, run twice: with TensorFlow's oneDNN kernels forced on and with its own
 * (Eigen) kernels, whatever this CPU's default, so that numerics hold under both kernel families
 * (TensorFlow reads TF_ENABLE_ONEDNN_OPTS as it loads; each test file is a new process).
 * `offOnly` narrows the second run to some files.
 */
export function bothKernelFamilies(offOnly?: string[]): ViteUserConfig {
  return mergeConfig(sharedConfig, defineConfig({
    test: {
      projects: [
        { extends: true, test: { name: 'onednn-on', env: { TF_ENABLE_ONEDNN_OPTS: '1' } } },
        { extends: true, test: { name: 'onednn-off', env: { TF_ENABLE_ONEDNN_OPTS: '0' }, ...(offOnly ? { include: offOnly } : {}) } },
      ],
    },
  }));
}
