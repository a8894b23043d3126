import { defineConfig, mergeConfig } from 'vitest/config';
import { sharedConfig } from '../vitest.shared.js';

export default mergeConfig(sharedConfig, defineConfig({ test: { include: ['generators/**/*.test.ts', 'runtime/**/*.test.ts', 'architecture/**/*.test.ts'] } }));
