import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, describe, expect, it, vi } from 'vitest';

const BACKEND = 'cpu';
const KERNEL = 'MlaanTrainingKernelsTest';

function kernel(label: string): tf.KernelConfig {
  return { kernelName: KERNEL, backendName: BACKEND, kernelFunc: () => ({ label }) as unknown as tf.TensorInfo };
}

afterAll(() => {
  if (tf.getKernel(KERNEL, BACKEND)) tf.unregisterKernel(KERNEL, BACKEND);
});

describe('registerTrainingKernels', () => {
  it('a second copy of this module (a bundle, a fresh module graph) still finds the kernel the first copy replaced', async () => {
    const original = kernel('original');
    tf.registerKernel(original);
    const first = await import('./training-kernels.js');
    const composedByFirst = kernel('composed by the first copy');
    first.registerTrainingKernels([composedByFirst]);
    expect(first.replacedKernel(KERNEL, BACKEND)).toBe(original);

    // tfjs's kernel registry lives on globalThis and survives the reload; so must what was replaced.
    vi.resetModules();
    const second = await import('./training-kernels.js');
    expect(second).not.toBe(first);
    expect(second.replacedKernel(KERNEL, BACKEND)).toBe(original);

    // Registering another composed kernel over the first copy's keeps the original as the one replaced.
    const composedBySecond = kernel('composed by the second copy');
    second.registerTrainingKernels([composedBySecond]);
    expect(tf.getKernel(KERNEL, BACKEND)).toBe(composedBySecond);
    expect(second.replacedKernel(KERNEL, BACKEND)).toBe(original);
  });
});
