// Runs before `@tensorflow/tfjs-node` is imported (ES modules evaluate in import order), so that
// a missing native addon surfaces as one actionable message instead of tfjs-node's stack trace.
import { createRequire } from 'node:module';
import { applyOneDnnPolicy } from './onednn/policy.js';

// TensorFlow's C++ logging prints CPU-feature notices on every start; keep warnings and errors.
process.env['TF_CPP_MIN_LOG_LEVEL'] ??= '2';

// oneDNN or TensorFlow's own kernels: TensorFlow reads TF_ENABLE_ONEDNN_OPTS once, as it loads.
applyOneDnnPolicy();

try {
  createRequire(import.meta.url)('@tensorflow/tfjs-node');
} catch (error) {
  const cause = error instanceof Error ? (error.message.split('\n')[0] ?? error.message) : String(error);
  throw new Error(
    `headbench needs the native TensorFlow runtime, and @tensorflow/tfjs-node does not load: ${cause}\n` +
      'Run `npm run provision` in the headbench checkout (it also runs on `npm install` and `npm ci`); ' +
      'adding packages with `npm install <name>` can remove the built addon. See README.md, "Native runtime".',
    { cause: error },
  );
}
