import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { selectByFlag, selectPairsByFlag } from '../ops/select-by-flag.js';
import { useBackend } from './cross-backend.test-helpers.js';
import { SELECT_BY_FLAG_KERNEL } from './kernel-names.js';
import { registerCpuTrainingKernels, registerWasmTrainingKernels } from './training-kernels.js';

const flag = (value: boolean) => tf.scalar(value, 'bool');

describe.each([
  ['cpu', registerCpuTrainingKernels],
  ['wasm', registerWasmTrainingKernels],
] as const)('selectByFlag on %s', (backend, register) => {
  it('hands back the chosen tensor by reference (no new buffer) and never lets the other one through', async () => {
    await useBackend(backend);
    register();
    expect(tf.getKernel(SELECT_BY_FLAG_KERNEL, backend)).toBeDefined();
    const kept = tf.tensor1d([1, 2, 3]);
    const undone = tf.tensor1d([NaN, Infinity, -0]);
    for (const [value, expected] of [
      [true, [1, 2, 3]],
      [false, [NaN, Infinity, -0]],
    ] as const) {
      const condition = flag(value);
      const buffers = tf.memory().numDataBuffers;
      const selected = selectByFlag(condition, kept, undone);
      expect(tf.memory().numDataBuffers).toBe(buffers);
      expect(Array.from(selected.dataSync())).toEqual(expected);
      selected.dispose();
      condition.dispose();
    }
    // The source outlives a dispose of the selection, and the selection a dispose of the source.
    const condition = flag(true);
    const selected = selectByFlag(condition, kept, undone);
    kept.dispose();
    expect(Array.from(selected.dataSync())).toEqual([1, 2, 3]);
    tf.dispose([selected, undone, condition]);
  });

  it('selects every pair in one call, each pair its own side', async () => {
    await useBackend(backend);
    register();
    const pairs = [
      [tf.tensor1d([1]), tf.tensor1d([NaN])],
      [tf.tensor2d([[2, 3]]), tf.tensor2d([[4, 5]])],
      [tf.scalar(6), tf.scalar(Infinity)],
    ] as const;
    for (const [value, side] of [[true, 0], [false, 1]] as const) {
      const condition = flag(value);
      const buffers = tf.memory().numDataBuffers;
      const selected = selectPairsByFlag(condition, pairs);
      expect(tf.memory().numDataBuffers).toBe(buffers);
      expect(selected.map((t) => t.shape)).toEqual(pairs.map((p) => p[0].shape));
      expect(selected.map((t) => Array.from(t.dataSync()))).toEqual(pairs.map((p) => Array.from(p[side].dataSync())));
      tf.dispose([...selected, condition]);
    }
    tf.dispose(pairs.flat());
  });
});

describe('selectByFlag without the kernel (a device backend)', () => {
  it('selects element by element with where: a NaN in the unselected tensor stays out', async () => {
    await useBackend('cpu');
    const registered = tf.getKernel(SELECT_BY_FLAG_KERNEL, 'cpu');
    if (registered) tf.unregisterKernel(SELECT_BY_FLAG_KERNEL, 'cpu');
    try {
      const a = tf.tensor2d([[1, 2], [3, 4]]);
      const b = tf.tensor2d([[NaN, 0], [Infinity, -1]]);
      expect(Array.from(selectByFlag(flag(true), a, b).dataSync())).toEqual([1, 2, 3, 4]);
      expect(Array.from(selectByFlag(flag(false), a, b).dataSync())).toEqual([NaN, 0, Infinity, -1]);
    } finally {
      if (registered) tf.registerKernel(registered);
    }
  });
});
