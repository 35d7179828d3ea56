import { beforeAll, describe, expect, it } from 'vitest';
import { LocalTrainer } from '@mlaan/core';
import { withMLAAN } from '@mlaan/mlaan';
import { cifarBatches, cifarFolder, disposeBatches, resnet8, trainEpochs, useTestBackend } from '@mlaan/test-support';
import { augLocal, augLocalCuts } from './index.js';

beforeAll(async () => {
  await useTestBackend();
});

const optimizer = { learningRate: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 };

describe.skipIf(!cifarFolder())('real CIFAR-10 (256 training images, ResNet-8, one layer per module)', () => {
  it('AugLocal: every local loss falls (4 epochs)', async () => {
    const batches = cifarBatches(256, 32);
    const backbone = resnet8(1);
    // K = 5 at depth 1: the stem, (1,0) and (2,0) alone, (3,0) with the classifier.
    const trainer = new LocalTrainer({ backbone, cuts: augLocalCuts(backbone, { K: 5, depth: 1 }), plugins: [augLocal({ depth: 1 })], optimizer });
    const history = await trainEpochs(trainer, batches, 4);
    const first = history[0]!;
    const last = history[history.length - 1]!;
    expect(Object.keys(first).sort()).toEqual(['module0.independent', 'module1.independent', 'module2.independent', 'module3.independent']);
    for (const name of Object.keys(first)) {
      expect(last[name]!, `${name}: ${history.map((h) => h[name]!.toFixed(3)).join(' -> ')}`).toBeLessThan(first[name]! * 0.9);
    }
    trainer.dispose();
    backbone.dispose();
    disposeBatches(batches);
  }, 600_000);

  it('AugLocal + MLAAN: every cascaded loss falls (3 epochs)', async () => {
    const batches = cifarBatches(256, 32);
    const backbone = resnet8(1);
    const trainer = new LocalTrainer({ backbone, cuts: augLocalCuts(backbone, { K: 6, depth: 2 }), plugins: [augLocal(), ...withMLAAN()], optimizer });
    const history = await trainEpochs(trainer, batches, 3);
    const first = history[0]!;
    const last = history[history.length - 1]!;
    const cascades = Object.keys(first).filter((name) => name.endsWith('.cascade'));
    expect(cascades.length).toBe(4);
    for (const name of cascades) {
      expect(last[name]!, `${name}: ${history.map((h) => h[name]!.toFixed(3)).join(' -> ')}`).toBeLessThan(first[name]! * 0.9);
    }
    trainer.dispose();
    backbone.dispose();
    disposeBatches(batches);
  }, 600_000);
});
