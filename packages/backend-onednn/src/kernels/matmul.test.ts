import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { addonUnavailableReason, expectMatchesCpu, input, setUpBackends, suiteTitle } from '../test-support.js';

interface MatmulCase {
  name: string;
  a: number[];
  b: number[];
  transposeA: boolean;
  transposeB: boolean;
}

const cases: MatmulCase[] = [
  { name: '2-D', a: [7, 5], b: [5, 3], transposeA: false, transposeB: false },
  { name: '2-D, transpose a', a: [5, 7], b: [5, 3], transposeA: true, transposeB: false },
  { name: '2-D, transpose b', a: [7, 5], b: [3, 5], transposeA: false, transposeB: true },
  { name: '2-D, both transposed', a: [5, 7], b: [3, 5], transposeA: true, transposeB: true },
  { name: 'classifier head 128x64 @ 64x10', a: [128, 64], b: [64, 10], transposeA: false, transposeB: false },
  { name: 'batched', a: [4, 6, 5], b: [4, 5, 3], transposeA: false, transposeB: false },
  { name: 'batched, rank 4', a: [2, 3, 6, 5], b: [2, 3, 3, 5], transposeA: false, transposeB: true },
  { name: 'batch 1 broadcast on b', a: [4, 6, 5], b: [1, 5, 3], transposeA: false, transposeB: false },
  { name: 'rank 2 b broadcast against a batch', a: [3, 6, 5], b: [5, 2], transposeA: false, transposeB: false },
];

describe.skipIf(addonUnavailableReason !== null)(suiteTitle('onednn matmul kernels match the cpu backend'), () => {
  beforeAll(setUpBackends);

  for (const [index, c] of cases.entries()) {
    it(`BatchMatMul: ${c.name}`, async () => {
      const { counts } = await expectMatchesCpu([input(c.a, 1 + index), input(c.b, 50 + index)], (a, b) =>
        tf.matMul(a!, b!, c.transposeA, c.transposeB),
      );
      expect(counts.native.BatchMatMul).toBe(1);
      expect(counts.fallback).toEqual({});
    });
  }

  it('matMul gradients (dense layer backward)', async () => {
    const { counts } = await expectMatchesCpu([input([16, 12], 71), input([12, 10], 72), input([16, 10], 73)], (x, w, upstream) =>
      tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.matMul(a, b), upstream!)))([x!, w!]),
    );
    expect(counts.native.BatchMatMul).toBe(3);
  });

  it('_FusedMatMul with bias and relu', async () => {
    const { counts } = await expectMatchesCpu([input([9, 8], 81), input([8, 6], 82), input([6], 83)], (a, b, bias) =>
      tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias, activation: 'relu' }),
    );
    expect(counts.native._FusedMatMul).toBe(1);
  });

  it('a broadcast oneDNN cannot express ([2,1] batch against [1,3]) goes to the cpu kernel', async () => {
    const { counts } = await expectMatchesCpu([input([2, 1, 4, 5], 91), input([1, 3, 5, 2], 92)], (a, b) => tf.matMul(a!, b!));
    expect(counts.fallback.BatchMatMul).toBe(1);
  });
});
