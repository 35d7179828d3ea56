import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { LocalTrainer, getSplit } from '@mlaan/core';
import { randomBatch } from '@mlaan/core/testing';
import { resnet32 } from '@mlaan/models';
import { withMLAAN } from '@mlaan/mlaan';
import { linearHost } from '../../lam/src/test-support.ts';
await tf.setBackend('cpu');
const backbone = resnet32({ classes: 10 });
const trainer = new LocalTrainer({ backbone, cuts: getSplit({ net: 'resnet32', K: 8 }), plugins: [linearHost(), ...withMLAAN({ profile: 'reference' })] });


const batch = randomBatch({ size: 4, imageSize: 32, classes: 10 });
const t0 = Date.now();
for (let k=0;k<2;k++){ const t1=Date.now(); const r = trainer.computeGradients(batch, { runAfterBackward: true });
console.log(Date.now() - t1, "ms", r.loss); }
