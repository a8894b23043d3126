import { describeHeadConformance } from '@headbench/testing';
import avgmax from './index.js';

// The contract every head keeps (CONTRIBUTING.md, "What the kit checks"): meta, options, output
// shape, seeding, parameter count, two heads in one model, no tensor leaks, save and load, and a
// clear error for features it cannot take.
describeHeadConformance(avgmax);

// Options other than the defaults get a run of their own; for the generated `hidden` option:
//   describeHeadConformance(avgmax, { options: { hidden: 8 } });
// Tests of your own go below.
