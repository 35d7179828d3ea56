import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { runningStatistics } from '../ops/batch-norm.js';
import { randomValues, useBackend } from './cross-backend.test-helpers.js';
import { RUNNING_STATISTICS_KERNEL } from './kernel-names.js';
import { registerCpuTrainingKernels, registerWasmTrainingKernels } from './training-kernels.js';

function update(count: number): number[][] {
  return tf.tidy(() => {
    const [mean, variance] = runningStatistics(
      tf.tensor1d(randomValues(16, 1)),
      tf.abs(tf.tensor1d(randomValues(16, 2))),
      tf.tensor1d(randomValues(16, 3)),
      tf.abs(tf.tensor1d(randomValues(16, 4))),
      0.1,
      count,
    );
    return [Array.from(mean.dataSync()), Array.from(variance.dataSync())];
  });
}

describe.each([
  ['cpu', registerCpuTrainingKernels],
  ['wasm', registerWasmTrainingKernels],
] as const)('batch norm running statistics on %s', (backend, register) => {
  it('one kernel gives the bits of the element-wise update, for a batch of many and of 2 values per channel', async () => {
    await useBackend(backend);
    register();
    expect(tf.getKernel(RUNNING_STATISTICS_KERNEL, backend)).toBeDefined();
    const before = tf.memory().numTensors;
    for (const count of [8192, 2]) {
      const fused = update(count);
      const registered = tf.getKernel(RUNNING_STATISTICS_KERNEL, backend)!;
      tf.unregisterKernel(RUNNING_STATISTICS_KERNEL, backend);
      try {
        expect(fused).toEqual(update(count));
      } finally {
        tf.registerKernel(registered);
      }
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('hand-computed: momentum 0.1, unbiased over 4 values', async () => {
    await useBackend(backend);
    register();
    const [mean, variance] = tf.tidy(() =>
      runningStatistics(tf.tensor1d([0]), tf.tensor1d([1]), tf.tensor1d([2]), tf.tensor1d([3]), 0.1, 4).map((t) => t.dataSync()[0]!),
    );
    expect(mean).toBeCloseTo(0.2, 6); // 0.9 * 0 + 0.1 * 2
    expect(variance).toBeCloseTo(0.9 + 0.1 * 4, 6); // 0.9 * 1 + 0.1 * (3 * 4 / 3)
  });
});
