import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { computeOn, randomValues, relativeMaxError, useBackend } from './cross-backend.test-helpers.js';
import { registerWasmTrainingKernels, replacedKernel } from './training-kernels.js';

const cases: Array<{ name: string; shape: number[]; reps: number[]; dtype?: 'float32' | 'int32' }> = [
  { name: 'per-channel vector to an activation (batch-norm gradient)', shape: [1, 1, 1, 5], reps: [3, 4, 7, 1] },
  { name: 'matrix tiled along both axes', shape: [2, 3], reps: [2, 3] },
  { name: 'vector', shape: [3], reps: [4] },
  { name: 'no repetition', shape: [2, 2, 3], reps: [1, 1, 1] },
  { name: 'three split axes, batch 1', shape: [1, 3, 2, 2], reps: [1, 2, 3, 2] },
  { name: 'rank 4 with four split axes (beyond broadcast rank, backend fallback)', shape: [2, 2, 3, 2], reps: [2, 2, 2, 3] },
  { name: 'int32 (backend fallback)', shape: [2, 3], reps: [3, 1], dtype: 'int32' },
];

describe('composed Tile on wasm against the cpu backend', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    registerWasmTrainingKernels();
  });

  it('keeps the replaced wasm Tile for the cases it hands back', () => {
    expect(replacedKernel('Tile', 'wasm')?.backendName).toBe('wasm');
    expect(tf.getKernel('Tile', 'wasm')).not.toBe(replacedKernel('Tile', 'wasm'));
  });

  it.each(cases)('$name: shape $shape, reps $reps', async ({ shape, reps, dtype }) => {
    const tile = () => {
      const values = randomValues(tf.util.sizeFromShape(shape), shape.length * 31 + reps[0]!);
      const x = dtype === 'int32' ? tf.tensor(values.map((value) => Math.round(value * 10)), shape, 'int32') : tf.tensor(values, shape);
      return tf.cast(tf.tile(x, reps), 'float32');
    };
    const [expected] = await computeOn('cpu', tile);
    const [actual] = await computeOn('wasm', tile);
    expect(actual!.length).toBe(expected!.length);
    expect(relativeMaxError(actual!, expected!)).toBe(0);
  });

  it('leaks neither engine tensors nor wasm buffers', async () => {
    await useBackend('wasm');
    const run = () => tf.tidy(() => { for (const { shape, reps } of cases) tf.tile(tf.ones(shape), reps); });
    run();
    const tensors = tf.memory().numTensors;
    const dataIds = tf.backend().numDataIds();
    run();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.backend().numDataIds()).toBe(dataIds);
  });
});
