import { describeHeadConformance } from '@headbench/testing';
import flatten from './index.js';

describeHeadConformance(flatten);
