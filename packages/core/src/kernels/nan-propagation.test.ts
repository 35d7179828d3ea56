import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { nanDependentOutputs, nanDroppedOutputs, nanPropagationCases } from '../testing/nan-propagation-cases.js';
import { useBackend } from './cross-backend.test-helpers.js';
import { nanDroppingKernels } from './nan-propagation.js';
import { registerCpuTrainingKernels, registerWasmTrainingKernels, replacedKernel } from './training-kernels.js';

// Issue 25, defect 1: a kernel that turns a NaN into a finite number hides it from the loss while
// the weights go NaN. Every kernel of the table must keep NaN wherever its output depends on it.
for (const backend of ['cpu', 'wasm'] as const) {
  describe(`kernels on ${backend} propagate NaN as PyTorch does`, () => {
    beforeAll(async () => {
      await useBackend(backend);
      if (backend === 'wasm') registerWasmTrainingKernels();
      else registerCpuTrainingKernels();
      await useBackend(backend);
    });

    it.each(nanPropagationCases.map((testCase) => [testCase.name, testCase] as const))('%s', (_name, testCase) => {
      const before = tf.memory().numTensors;
      const dependent = nanDependentOutputs(testCase);
      expect(dependent.flat().length, 'the poisoned input reaches some output').toBeGreaterThan(0);
      expect(nanDroppedOutputs(testCase, dependent), 'outputs that depend on the NaN but are finite').toEqual(dependent.map(() => []));
      expect(nanDroppedOutputs(testCase, dependent, 'negative NaN'), 'the same for a NaN with its sign bit set').toEqual(dependent.map(() => []));
      expect(tf.memory().numTensors).toBe(before);
    });

    it('runs the replaced kernel for the NaN-keeping ones (they only add NaN back)', () => {
      for (const kernelName of nanDroppingKernels[backend]) {
        expect(replacedKernel(kernelName, backend)?.backendName, kernelName).toBe(backend);
        expect(tf.getKernel(kernelName, backend)).not.toBe(replacedKernel(kernelName, backend));
      }
    });
  });
}

describe("the replaced kernels drop NaN (why the NaN-keeping ones exist; if one passes, tfjs fixed it and it can go)", () => {
  it.each(
    (['cpu', 'wasm'] as const).flatMap((backend) => nanDroppingKernels[backend].map((kernelName) => [backend, kernelName] as const)),
  )('%s %s', async (backend, kernelName) => {
    await useBackend(backend);
    const cases = nanPropagationCases.filter((testCase) => testCase.name.startsWith(`${kernelName} `) || testCase.name === kernelName);
    expect(cases.length, `a case for ${kernelName}`).toBeGreaterThan(0);
    const guard = tf.getKernel(kernelName, backend)!;
    const replaced = replacedKernel(kernelName, backend)!;
    tf.unregisterKernel(kernelName, backend);
    tf.registerKernel(replaced);
    try {
      const dropped = cases.flatMap((testCase) => {
        const dependent = nanDependentOutputs(testCase);
        return [nanDroppedOutputs(testCase, dependent).flat().length, nanDroppedOutputs(testCase, dependent, 'negative NaN').flat().length];
      });
      expect(Math.max(...dropped)).toBeGreaterThan(0);
    } finally {
      tf.unregisterKernel(kernelName, backend);
      tf.registerKernel(guard);
    }
  });
});
