import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createLoader, loadDataset } from '@mlaan/data';
import { beforeAll, describe, expect, it } from 'vitest';
import { expandGrid, resolveSettings } from './config.js';
import { batchesFrom, moduleCount } from './train.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const dataDir = process.env.MLAAN_DATA_DIR ?? resolve(repoRoot, '../shared/datasets');
const haveCifar = existsSync(join(dataDir, 'cifar10/cifar-10-batches-bin/test_batch.bin'));

describe('moduleCount', () => {
  it('is 1 for E2E, K for the tables, one per block (15 for ResNet-32) for per-block', () => {
    const settings = resolveSettings(undefined, { frameworks: ['e2e', 'dgl'], Ks: [4, 'per-block'], epochs: 1 });
    expect(expandGrid(settings).map((c) => `${c.framework} ${c.K} ${moduleCount(c)}`)).toEqual(['e2e 1 1', 'dgl 4 4', 'dgl per-block 15']);
  });
});

describe.skipIf(!haveCifar)('batchesFrom (resuming inside an epoch)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('gives the same augmented batches as the uninterrupted epoch, from the resume point on', async () => {
    const dataset = await loadDataset({ name: 'cifar10', split: 'train', dataDir, limit: 80 });
    const loader = createLoader(dataset, { batchSize: 16, seed: 7, workers: 1 });
    const collect = async (iterable: AsyncIterable<{ inputs: tf.Tensor; labels: tf.Tensor }>) => {
      const out: { inputs: Float32Array; labels: Int32Array }[] = [];
      for await (const batch of iterable) {
        out.push({ inputs: batch.inputs.dataSync() as Float32Array, labels: batch.labels.dataSync() as Int32Array });
        batch.inputs.dispose();
        batch.labels.dispose();
      }
      return out;
    };
    const before = tf.memory().numTensors;
    const whole = await collect(batchesFrom(loader, 2, 0));
    const resumed = await collect(batchesFrom(loader, 2, 3));
    await loader.close();
    expect(whole).toHaveLength(5);
    expect(resumed).toHaveLength(2);
    expect(resumed[0]!.labels).toEqual(whole[3]!.labels);
    expect(resumed[1]!.inputs).toEqual(whole[4]!.inputs);
    // A different epoch is shuffled and augmented differently, so the check above can fail.
    const other = await collect(batchesFrom(loader, 3, 3));
    expect(other[0]!.inputs).not.toEqual(whole[3]!.inputs);
    await loader.close();
    expect(tf.memory().numTensors).toBe(before);
  });
});
