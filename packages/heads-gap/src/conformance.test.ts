import { describeHeadConformance } from '@headbench/core/testing';
import gap from './index.js';

describeHeadConformance(gap);
