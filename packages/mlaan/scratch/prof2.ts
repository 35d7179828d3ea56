import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { LocalTrainer } from '@mlaan/core';
import { randomBatch } from '@mlaan/core/testing';
import { resnet32 } from '@mlaan/models';
await tf.setBackend('cpu');
const batch = randomBatch({ size: 2, imageSize: 32, classes: 10 });
const backbone = resnet32({ classes: 10 });
const trainer = new LocalTrainer({ backbone });
const t = Date.now();
const info = await tf.profile(() => { const r = trainer.computeGradients(batch); r.gradients.forEach(g => g.dispose()); return []; });
console.log('total', Date.now() - t);
const agg = new Map<string, [number, number]>();
for (const k of info.kernels) { const a = agg.get(k.name) ?? [0, 0]; a[0] += k.kernelTimeMs as number; a[1]++; agg.set(k.name, a); }
console.log([...agg].sort((a, b) => b[1][0] - a[1][0]).slice(0, 12));
