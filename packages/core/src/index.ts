export { tf, NATIVE_BACKEND, runtimeInfo } from './runtime.js';
