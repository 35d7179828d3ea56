import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { nanDependentOutputs, nanDroppedOutputs, nanPropagationCases } from '@mlaan/core/testing';
import { addonUnavailableReason, countsDelta, setUpBackends, suiteTitle } from '../test-support.js';
import { kernelCounts } from './index.js';

// Issue 25, defect 1: one NaN pixel turned the weights NaN on onednn while the loss stayed finite,
// because oneDNN's ReLU (max(x, 0)) returned 0 for NaN. Every kernel of core's table must keep NaN
// wherever its output depends on it, natively where this backend runs the kernel natively.
const nativeKernels = ['Relu', 'Relu6', 'Exp', 'Maximum', 'Minimum', 'Max', 'Min', 'Softmax', 'MaxPool', 'FusedConv2D', '_FusedMatMul'];

describe.skipIf(addonUnavailableReason !== null)(suiteTitle('kernels on onednn propagate NaN as PyTorch does'), () => {
  const native = new Set<string>();
  beforeAll(async () => {
    await setUpBackends();
    await tf.setBackend('onednn');
  });

  it.each(nanPropagationCases.map((testCase) => [testCase.name, testCase] as const))('%s', (_name, testCase) => {
    const before = tf.memory().numTensors;
    const dependent = nanDependentOutputs(testCase);
    expect(dependent.flat().length, 'the poisoned input reaches some output').toBeGreaterThan(0);
    const counts = kernelCounts();
    expect(nanDroppedOutputs(testCase, dependent), 'outputs that depend on the NaN but are finite').toEqual(dependent.map(() => []));
    expect(nanDroppedOutputs(testCase, dependent, 'negative NaN'), 'the same for a NaN with its sign bit set').toEqual(dependent.map(() => []));
    for (const name of Object.keys(countsDelta(counts, kernelCounts()).native)) native.add(name);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('ran the kernels that dropped NaN on their native path', () => {
    expect(nativeKernels.filter((name) => !native.has(name))).toEqual([]);
  });
});
