import * as tf from '@tensorflow/tfjs-core';
import { hostMemoryStepKernels, registerTrainingKernels, runningStatistics, sgdUpdate, totalSum } from '@mlaan/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { register } from './register.js';
import { addonUnavailableReason, randomValues, suiteTitle } from './test-support.js';

const STEP_KERNELS = ['MlaanSgdUpdate', 'MlaanRunningStatistics', 'MlaanTotalSum', 'MlaanSelectByFlag'];

/** Two SGD updates and a running-statistics update on onednn, downloaded. */
function updates(): number[][] {
  const size = 100_003;
  const values = (seed: number) => tf.tensor1d(randomValues(size, seed));
  const attrs = { learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4, dampening: 0 };
  return tf.tidy(() => {
    const first = sgdUpdate(values(1), values(2), tf.zeros([size]), { ...attrs, firstStep: true });
    const second = sgdUpdate(first.value, values(3), first.momentumBuffer, { ...attrs, firstStep: false });
    const [mean, variance] = runningStatistics(values(4), tf.abs(values(5)), values(6), tf.abs(values(7)), 0.1, 4096);
    return [second.value, second.momentumBuffer!, mean, variance, totalSum([values(8), values(9)])].map((t) => Array.from(t.dataSync()));
  });
}

describe.skipIf(addonUnavailableReason !== null)(suiteTitle("the step's one-pass kernels on onednn"), () => {
  beforeAll(async () => {
    // What selectBackend('onednn') does (core's provider), without importing this package by name
    // (its build may not exist yet when its tests run).
    const name = await register();
    registerTrainingKernels(hostMemoryStepKernels(name));
    await tf.setBackend(name);
  });

  it('are registered for onednn and give the bits of the element-wise ops onednn runs otherwise', () => {
    for (const name of STEP_KERNELS) expect(tf.getKernel(name, 'onednn'), name).toBeDefined();
    const before = tf.memory().numTensors;
    const fused = updates();
    const saved = ['MlaanSgdUpdate', 'MlaanRunningStatistics'].map((name) => tf.getKernel(name, 'onednn')!);
    for (const kernel of saved) tf.unregisterKernel(kernel.kernelName, 'onednn');
    try {
      const composed = updates();
      // The SGD and running-statistics outputs to the bit; the total sum within float32 rounding
      // (the kernel sums in float64, the composed sums per tensor in float32).
      for (let i = 0; i < 4; i++) expect(fused[i]).toEqual(composed[i]);
      expect(fused[4]![0]!).toBeCloseTo(composed[4]![0]!, 2);
    } finally {
      for (const kernel of saved) tf.registerKernel(kernel);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
