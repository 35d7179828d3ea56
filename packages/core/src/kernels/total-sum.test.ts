import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { totalSum } from '../ops/total-sum.js';
import { useBackend } from './cross-backend.test-helpers.js';
import { TOTAL_SUM_KERNEL } from './kernel-names.js';
import { registerCpuTrainingKernels, registerWasmTrainingKernels } from './training-kernels.js';

function sums(): number[] {
  return tf.tidy(() => [
    totalSum([tf.tensor1d([1, 2, 3]), tf.tensor2d([[0.5, -1.5]]), tf.scalar(4)]),
    totalSum([tf.tensor1d([1, NaN]), tf.tensor1d([2])]),
    totalSum([tf.tensor1d([1]), tf.tensor1d([Infinity])]),
    totalSum([tf.tensor1d([Infinity]), tf.tensor1d([-Infinity])]),
    totalSum([]),
  ].map((t) => t.dataSync()[0]!));
}

describe.each([
  ['cpu', registerCpuTrainingKernels],
  ['wasm', registerWasmTrainingKernels],
] as const)('totalSum on %s', (backend, register) => {
  it('sums every element of every input in one kernel, non-finite when any element is; the same without the kernel', async () => {
    await useBackend(backend);
    register();
    expect(tf.getKernel(TOTAL_SUM_KERNEL, backend)).toBeDefined();
    const before = tf.memory().numTensors;
    const expected = [9, NaN, Infinity, NaN, 0];
    expect(sums()).toEqual(expected);
    const registered = tf.getKernel(TOTAL_SUM_KERNEL, backend)!;
    tf.unregisterKernel(TOTAL_SUM_KERNEL, backend);
    try {
      expect(sums()).toEqual(expected);
    } finally {
      tf.registerKernel(registered);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
