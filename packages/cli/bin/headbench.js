#!/usr/bin/env node
// Plain JavaScript, so that it runs before anything is built and can say so.
import { existsSync } from 'node:fs';
import { URL } from 'node:url';

const entry = new URL('../dist/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('headbench: the command is not built; run npm install (or npm run build) first\n');
  process.exit(1);
}
const { main } = await import(entry.href);
// exitCode rather than exit(): output still being written to a pipe is not cut off.
process.exitCode = await main(process.argv.slice(2));
