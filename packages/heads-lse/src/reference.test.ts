import { describeHeadReference } from '@headbench/testing';
import head from './index.js';

// The forward pass against tools/keras-reference/make_head_fixtures.py's NumPy computation.
describeHeadReference(head, new URL('../fixtures/reference.json', import.meta.url));
