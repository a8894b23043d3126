import { describeBackboneConformance } from '@headbench/testing';
import { efficientnetb0, mobilenetv2, mobilenetv3small, resnet50v2 } from './index.js';

// Kept cheap: random seeded weights, the narrowest alpha, small inputs. 16 and 31 are below
// Keras' minimum of 32; 33.5 is not a pixel count.
describeBackboneConformance(mobilenetv2, {
  options: { alpha: 0.35, weights: 'none' },
  inputSizes: [32, 64],
  unsupportedInputSizes: [16, 31, 33.5],
});

// One per new family, as cheap: random weights, the smallest input Keras takes.
describeBackboneConformance(mobilenetv3small, { options: { weights: 'none' }, inputSizes: [32], unsupportedInputSizes: [16, 31] });
describeBackboneConformance(efficientnetb0, { options: { weights: 'none' }, inputSizes: [32], unsupportedInputSizes: [16, 31] });
describeBackboneConformance(resnet50v2, { options: { weights: 'none' }, inputSizes: [32], unsupportedInputSizes: [16, 31] });
