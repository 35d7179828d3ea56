import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { LocalTrainer } from '@mlaan/core';
import { dgl } from './src/index.js';
import { tinyResNet, randomBatch, resnet8 } from './src/test-support.js';
await tf.setBackend('cpu');
for (const [label, make, size] of [['tiny w4 32px', () => tinyResNet(), 32], ['tiny w4 16px', () => tinyResNet({inputSize:16}), 16], ['resnet8', () => resnet8(), 32]] as const) {
  for (const head of ['linear', 'mlp-sr'] as const) {
    const backbone = make();
    const trainer = new LocalTrainer({ backbone, cuts: [[1, 0], [2, 0]], plugins: [dgl({ head })] });
    const batch = randomBatch(16, 1, 10, size);
    trainer.step(batch);
    const t = performance.now();
    for (let i = 0; i < 3; i++) trainer.step(batch);
    console.log(label, head, ((performance.now() - t) / 3).toFixed(0), 'ms/step (batch 16)');
    trainer.dispose(); backbone.dispose();
  }
}
