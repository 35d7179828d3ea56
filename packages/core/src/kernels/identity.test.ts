import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from './cross-backend.test-helpers.js';
import { registerWasmTrainingKernels, replacedKernel } from './training-kernels.js';

describe('Identity on wasm shares the buffer', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    registerWasmTrainingKernels();
  });

  it('clone allocates nothing on the wasm heap, and the clone outlives its source', () => {
    expect(replacedKernel('Identity', 'wasm')?.backendName).toBe('wasm');
    const source = tf.tensor2d([[1, 2], [3, 4]]);
    const buffers = tf.memory().numDataBuffers;
    const copy = source.clone();
    expect(tf.memory().numDataBuffers).toBe(buffers);
    source.dispose();
    expect(Array.from(copy.dataSync())).toEqual([1, 2, 3, 4]);
    // An op on the clone writes a new buffer; the shared one is untouched.
    const doubled = tf.mul(copy, 2);
    expect(Array.from(copy.dataSync())).toEqual([1, 2, 3, 4]);
    expect(Array.from(doubled.dataSync())).toEqual([2, 4, 6, 8]);
    const before = tf.memory().numDataBuffers;
    copy.dispose();
    expect(tf.memory().numDataBuffers).toBe(before - 1);
    doubled.dispose();
  });

  it('a variable cloned before assign keeps the old values', () => {
    const variable = tf.variable(tf.tensor1d([1, 2, 3]));
    const snapshot = variable.clone();
    variable.assign(tf.tensor1d([7, 8, 9]));
    expect(Array.from(snapshot.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(variable.dataSync())).toEqual([7, 8, 9]);
    snapshot.dispose();
    variable.dispose();
  });

  it('strings still go through the backend kernel', () => {
    const words = tf.tensor1d(['a', 'bc'], 'string');
    const copy = words.clone();
    expect(copy.dataSync()).toEqual(['a', 'bc']);
    tf.dispose([words, copy]);
  });
});
