import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Batch, LocalLearningPlugin, LocalTrainer, perBlockCuts, selectBackend } from '@mlaan/core';
import { dgl } from '@mlaan/dgl';
import { infoPro, MLAAN_LAMBDA } from '@mlaan/infopro';
import { withMLAAN } from './index.js';
import { cifarBatches, cifarFolder, smallResNet } from '@mlaan/test-support';

let batches: Batch[] = [];

beforeAll(async () => {
  // wasm (with core's training kernels) when it loads: these runs are ~10x faster than on cpu.
  await selectBackend('wasm', { log: () => {} }).catch(() => tf.setBackend('cpu'));
  if (cifarFolder()) batches = cifarBatches(256, 32);
});

afterAll(async () => {
  for (const b of batches) {
    b.inputs.dispose();
    b.labels.dispose();
  }
  await tf.setBackend('cpu');
});

/** Long synchronous stretches starve vitest's worker RPC; give it a turn between steps. */
const yieldToVitest = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Mean training loss (the last module's, cascaded) of each epoch over the same 256 images. */
async function train(host: LocalLearningPlugin, epochs: number): Promise<number[]> {
  const backbone = smallResNet(1, 3);
  const trainer = new LocalTrainer({
    backbone,
    cuts: perBlockCuts(backbone.stageDepths),
    plugins: [host, ...withMLAAN()],
    optimizer: { learningRate: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
    seed: 5,
  });
  const means: number[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    let sum = 0;
    for (const batch of batches) {
      sum += (await trainer.step(batch).read()).loss;
      await yieldToVitest();
    }
    means.push(sum / batches.length);
  }
  trainer.dispose();
  backbone.dispose();
  return means;
}

describe.skipIf(!cifarFolder())('a short real CIFAR-10 run with MLAAN', () => {
  it('DGL + MLAAN: the loss falls', async () => {
    const losses = await train(dgl(), 3);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]!, JSON.stringify(losses)).toBeLessThan(losses[0]! - 0.1);
  });

  it('InfoPro + MLAAN: the loss falls', async () => {
    const losses = await train(infoPro({ lambda: MLAAN_LAMBDA, task: 'cross-entropy' }), 3);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]!, JSON.stringify(losses)).toBeLessThan(losses[0]! - 0.1);
  });
});
