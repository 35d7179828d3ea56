import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { LocalTrainer, getSplit, TRAIN } from '@mlaan/core';
import { randomBatch } from '@mlaan/core/testing';
import { resnet32 } from '@mlaan/models';
import { mlm } from '@mlaan/mlm';
import { lam } from '@mlaan/lam';
import { linearHost } from '../../lam/src/test-support.ts';
await tf.setBackend('cpu');
const batch = randomBatch({ size: 4, imageSize: 32, classes: 10 });
const mode = process.argv[2];
const backbone = resnet32({ classes: 10 });
const plugins = mode === 'e2e' ? [] : mode === 'dgl' ? [linearHost()] : mode === 'mlm' ? [linearHost(), mlm()] : [linearHost(), lam()];
const trainer = new LocalTrainer({ backbone, cuts: mode === 'e2e' ? [] : getSplit({ net: 'resnet32', K: 8 }), plugins });
for (let k = 0; k < 2; k++) { const t1 = Date.now(); const r = trainer.computeGradients(batch); console.log(mode, Date.now() - t1, 'ms', r.loss); }
if (mode === 'fwd') {}
