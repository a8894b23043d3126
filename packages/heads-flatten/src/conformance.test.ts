import { describeHeadConformance } from '@headbench/core/testing';
import flatten from './index.js';

describeHeadConformance(flatten);
