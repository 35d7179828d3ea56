import { beforeAll, describe, expect, it } from 'vitest';
import { LocalTrainer } from '@mlaan/core';
import { infoPro } from './index.js';
import { cifarBatches, disposeBatches, resnet8, trainEpochs, useTestBackend } from '@mlaan/test-support';

beforeAll(async () => {
  await useTestBackend();
});

describe('real CIFAR-10 (256 training images, ResNet-8, K = 3, 4 epochs)', () => {
  it('every local loss falls (contrastive task, reconstruction + task losses)', async () => {
    const batches = cifarBatches(256, 32);
    const backbone = resnet8(1);
    const trainer = new LocalTrainer({
      backbone,
      cuts: [[1, 0], [2, 0]],
      plugins: [infoPro({ task: 'contrast', lambda: [5, 1, 1, 1] })],
      optimizer: { learningRate: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
    });
    const history = await trainEpochs(trainer, batches, 4);
    const first = history[0]!;
    const last = history[history.length - 1]!;
    expect(Object.keys(first).sort()).toEqual(['module0.independent', 'module1.independent', 'module2.independent']);
    for (const name of Object.keys(first)) {
      expect(last[name]!, `${name}: ${history.map((h) => h[name]!.toFixed(3)).join(' -> ')}`).toBeLessThan(first[name]! * 0.96);
    }
    trainer.dispose();
    backbone.dispose();
    disposeBatches(batches);
  });
});
