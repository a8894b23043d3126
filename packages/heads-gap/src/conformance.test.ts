import { describeHeadConformance } from '@headbench/testing';
import gap from './index.js';

describeHeadConformance(gap);
