import { describeHeadConformance } from '@headbench/testing';
import mlp from './index.js';

// The contract every head keeps (CONTRIBUTING.md, "What the kit checks"). The defaults train on
// the graph; a dropout rate makes the training step eager (the graph has no random dropout).
describeHeadConformance(mlp);
describeHeadConformance(mlp, { options: { hidden: 8, dropout: 0.5 }, eagerTraining: true });
