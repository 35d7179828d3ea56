import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { TRAIN, EVAL } from '@mlaan/core';
import { randomBatch } from '@mlaan/core/testing';
import { resnet32 } from '@mlaan/models';
await tf.setBackend('cpu');
const batch = randomBatch({ size: 4, imageSize: 32, classes: 10 });
const backbone = resnet32({ classes: 10 });
for (const ctx of [EVAL, TRAIN]) { const t = Date.now(); tf.tidy(() => backbone.apply(batch.inputs, ctx).dataSync()); console.log(ctx.training, Date.now() - t); }
const info = await tf.profile(() => { tf.tidy(() => { backbone.apply(batch.inputs, EVAL).dataSync(); }); return []; });
const agg = new Map<string, number>();
for (const k of info.kernels) agg.set(k.name, (agg.get(k.name) ?? 0) + (k.kernelTimeMs as number));
console.log([...agg].sort((a, b) => b[1] - a[1]).slice(0, 8));
