import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { LocalTrainer, readSteps, selectBackend } from '../index.js';
import { tinyBackbone } from '../testing/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const dataDir = process.env.MLAAN_DATA_DIR ?? resolve(here, '../../../../../shared/datasets');

/** The first n records of a CIFAR-10 binary batch, normalised NHWC (core cannot use @mlaan/data). */
function readCifar(n: number) {
  const bytes = readFileSync(join(dataDir, 'cifar10/cifar-10-batches-bin/data_batch_1.bin'));
  const mean = [125.3, 123.0, 113.9];
  const std = [63.0, 62.1, 66.7];
  const pixels = new Float32Array(n * 32 * 32 * 3);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const record = i * 3073;
    labels[i] = bytes[record]!;
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < 1024; p++) pixels[(i * 1024 + p) * 3 + c] = (bytes[record + 1 + c * 1024 + p]! - mean[c]!) / std[c]!;
    }
  }
  return { pixels, labels };
}

beforeAll(async () => {
  // The wasm backend with the composed gradient kernels: the cpu backend's convolutions are
  // scalar loops, too slow for 32x32 images even on a tiny network.
  await selectBackend('wasm', { log: () => {} });
});

describe('E2E on real CIFAR-10', () => {
  it('loss falls over 512 images (each epoch read in one transfer)', async () => {
    const n = 512;
    const { pixels, labels } = readCifar(n);
    const backbone = tinyBackbone({ classes: 10, width: 8, seed: 3, inputSize: 32 });
    const trainer = new LocalTrainer({ backbone, optimizer: { learningRate: 0.05 } });
    const batchSize = 64;
    const epochLoss: number[] = [];
    for (let epoch = 0; epoch < 4; epoch++) {
      const results = [];
      for (let b = 0; b < n / batchSize; b++) {
        const batch = tf.tidy(() => ({
          inputs: tf.tensor4d(pixels.subarray(b * batchSize * 3072, (b + 1) * batchSize * 3072), [batchSize, 32, 32, 3]),
          labels: tf.tensor1d(labels.subarray(b * batchSize, (b + 1) * batchSize), 'int32'),
        }));
        results.push(trainer.step(batch));
        batch.inputs.dispose();
        batch.labels.dispose();
      }
      const values = await readSteps(results);
      epochLoss.push(values.reduce((sum, v) => sum + v.loss, 0) / values.length);
    }
    expect(epochLoss[3]!).toBeLessThan(epochLoss[0]! - 0.1);
    trainer.dispose();
    backbone.dispose();
  });
});
