import { mobilenetv2 } from './mobilenetv2.js';

export { mobilenetv2, mobilenetv2Schema, type MobileNetV2Options } from './mobilenetv2.js';
export { mobileNetV2, MIN_INPUT_SIZE, type ArchitectureOptions } from './architecture.js';

/** The plugin factory, for `--plugin @headbench/backbones` and config files. */
export default mobilenetv2;
