// The public surface of @headbench/cli: what a headbench.config.js imports.
export { defineConfig, type HeadbenchConfig } from './config.js';
