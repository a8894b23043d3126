import { describeHeadConformance } from '@headbench/testing';
import gdconv from './index.js';

// The contract every head keeps (CONTRIBUTING.md, "What the kit checks"): meta, options, output
// shape, seeding, parameter count, two heads in one model, no tensor leaks, save and load, and a
// clear error for features it cannot take.
describeHeadConformance(gdconv);

// Options other than the defaults get a run of their own; for the generated `hidden` option:
//   describeHeadConformance(gdconv, { options: { hidden: 8 } });
// Tests of your own go below.
