import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { sgdUpdate } from '../ops/sgd-update.js';
import { randomValues, useBackend } from './cross-backend.test-helpers.js';
import { SGD_UPDATE_KERNEL, type SgdUpdateAttrs } from './kernel-names.js';
import { registerCpuTrainingKernels, registerWasmTrainingKernels } from './training-kernels.js';

const settings: [string, Omit<SgdUpdateAttrs, 'firstStep'>][] = [
  ['Nesterov with weight decay', { learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4, dampening: 0 }],
  ['heavy ball with dampening', { learningRate: 0.05, momentum: 0.8, nesterov: false, weightDecay: 5e-4, dampening: 0.3 }],
  ['plain SGD', { learningRate: 0.7, momentum: 0, nesterov: false, weightDecay: 0, dampening: 0 }],
];

/** Two updates (a first step, then one with a buffer), run by `sgdUpdate` on the active backend. */
function twoUpdates(attrs: Omit<SgdUpdateAttrs, 'firstStep'>, size: number): Float32Array[] {
  return tf.tidy(() => {
    const value = tf.tensor1d(randomValues(size, 1));
    const gradient = tf.tensor1d(randomValues(size, 2));
    const later = tf.tensor1d(randomValues(size, 3));
    const zeros = tf.zerosLike(value);
    const first = sgdUpdate(value, gradient, attrs.momentum ? zeros : undefined, { ...attrs, firstStep: true });
    const second = sgdUpdate(first.value, later, first.momentumBuffer, { ...attrs, firstStep: false });
    return [first.value, second.value, ...(second.momentumBuffer ? [second.momentumBuffer] : [])].map((t) => t.dataSync() as Float32Array);
  });
}

function withoutKernel<T>(backend: string, run: () => T): T {
  const registered = tf.getKernel(SGD_UPDATE_KERNEL, backend);
  if (registered) tf.unregisterKernel(SGD_UPDATE_KERNEL, backend);
  try {
    return run();
  } finally {
    if (registered) tf.registerKernel(registered);
  }
}

describe.each([
  ['cpu', registerCpuTrainingKernels],
  ['wasm', registerWasmTrainingKernels],
] as const)('the one-pass SGD update on %s', (backend, register) => {
  it.each(settings)('%s: the same bits as the element-wise update', async (_, attrs) => {
    await useBackend(backend);
    register();
    expect(tf.getKernel(SGD_UPDATE_KERNEL, backend)).toBeDefined();
    const before = tf.memory().numTensors;
    const fused = twoUpdates(attrs, 1000);
    const composed = withoutKernel(backend, () => twoUpdates(attrs, 1000));
    expect(fused.length).toBe(composed.length);
    fused.forEach((values, i) => expect(Array.from(values)).toEqual(Array.from(composed[i]!)));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('hand-computed: Nesterov with weight decay, two steps (PyTorch SGD)', async () => {
    await useBackend(backend);
    register();
    const attrs = { learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01, dampening: 0 };
    const [first, second] = tf.tidy(() => {
      const p = tf.tensor1d([1]);
      const g = tf.tensor1d([0.5]);
      const a = sgdUpdate(p, g, tf.zeros([1]), { ...attrs, firstStep: true });
      const b = sgdUpdate(a.value, g, a.momentumBuffer, { ...attrs, firstStep: false });
      return [a.value.dataSync()[0]!, b.value.dataSync()[0]!];
    });
    // d = 0.5 + 0.01*1 = 0.51; buf = 0.51; d = 0.51 + 0.9*0.51 = 0.969; p = 1 - 0.0969
    expect(first).toBeCloseTo(0.9031, 6);
    // d = 0.5 + 0.009031; buf = 0.9*0.51 + 0.509031 = 0.968031; d = 0.509031 + 0.9*0.968031 = 1.3802589
    expect(second).toBeCloseTo(0.9031 - 0.13802589, 6);
  });

  it('a NaN gradient makes the value and the buffer NaN (the step verdict sees it)', async () => {
    await useBackend(backend);
    register();
    const [value, buffer] = tf.tidy(() => {
      const out = sgdUpdate(tf.tensor1d([1, 2]), tf.tensor1d([NaN, 1]), tf.zeros([2]), { ...settings[0]![1], firstStep: true });
      return [Array.from(out.value.dataSync()), Array.from(out.momentumBuffer!.dataSync())];
    });
    expect(Number.isNaN(value[0])).toBe(true);
    expect(Number.isNaN(buffer[0])).toBe(true);
    expect(Number.isFinite(value[1])).toBe(true);
  });
});
