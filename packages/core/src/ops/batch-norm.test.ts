import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm } from '../layers/batch-norm.js';
import { TRAIN } from '../layers/layer.js';
import { BATCH_NORM_TRAINING_GRAD_KERNEL, BATCH_NORM_TRAINING_KERNEL, hasFusedBatchNormKernels, setFusedBatchNorm } from './batch-norm.js';

let fusedCalls = 0;
beforeAll(async () => {
  await tf.setBackend('cpu');
  // A stand-in fused kernel pair on cpu (composed from cpu kernels) to check the routing.
  tf.registerKernel({
    kernelName: BATCH_NORM_TRAINING_KERNEL,
    backendName: 'cpu',
    kernelFunc: ({ inputs, attrs }) => {
      fusedCalls++;
      const { x, scale, offset } = inputs as { x: tf.Tensor; scale: tf.Tensor; offset: tf.Tensor };
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      const y = tf.batchNorm(x, mean, variance, offset, scale, (attrs as { epsilon: number }).epsilon);
      return [y, mean, variance];
    },
  });
  tf.registerKernel({
    kernelName: BATCH_NORM_TRAINING_GRAD_KERNEL,
    backendName: 'cpu',
    kernelFunc: ({ inputs }) => {
      fusedCalls++;
      const { dy, scale } = inputs as { dy: tf.Tensor; scale: tf.Tensor };
      return [tf.mul(dy, scale), tf.sum(dy, [0, 1, 2]), tf.sum(dy, [0, 1, 2])];
    },
  });
});
afterAll(() => {
  setFusedBatchNorm(true);
  tf.unregisterKernel(BATCH_NORM_TRAINING_KERNEL, 'cpu');
  tf.unregisterKernel(BATCH_NORM_TRAINING_GRAD_KERNEL, 'cpu');
});

describe('fused batch-norm kernels', () => {
  it('are used when registered for the active backend, unless turned off', () => {
    const bn = new BatchNorm({ channels: 2 });
    const x = tf.randomNormal([2, 3, 3, 2], 0, 1, 'float32', 1);
    setFusedBatchNorm(false);
    expect(hasFusedBatchNormKernels()).toBe(false);
    bn.forward(x, TRAIN).dispose();
    expect(fusedCalls).toBe(0);
    setFusedBatchNorm(true);
    expect(hasFusedBatchNormKernels()).toBe(true);
    const activation = bn.forward(x, TRAIN);
    activation.backward(tf.onesLike(x), { input: true, parameters: true });
    expect(fusedCalls).toBe(2);
    activation.dispose();
  });
});
