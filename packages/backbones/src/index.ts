import { mobilenetv2 } from './mobilenetv2.js';

export { mobilenetv2, mobilenetv2Schema, type MobileNetV2Options } from './mobilenetv2.js';
export { mobileNetV2, MIN_INPUT_SIZE, type ArchitectureOptions } from './architecture.js';
export {
  mobilenetv3small,
  mobilenetv3large,
  efficientnetb0,
  resnet50,
  resnet50v2,
  imagenetWeightFile,
  mobilenetv3Schema,
  efficientnetb0Schema,
  resnetSchema,
  type MobileNetV3Options,
  type EfficientNetB0Options,
  type ResNetOptions,
} from './plugins.js';
export { ensureOfficialWeights, type KerasWeightFile } from './weights/official.js';
export { mobileNetV3 } from './mobilenetv3.js';
export { efficientNetB0 } from './efficientnet.js';
export { resNet50 } from './resnet.js';

/** The plugin factory, for `--plugin @headbench/backbones` and config files. */
export default mobilenetv2;
