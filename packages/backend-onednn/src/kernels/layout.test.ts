import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { addonUnavailableReason, countsDelta, expectMatchesCpu, input, runOn, setUpBackends, suiteTitle } from '../test-support.js';
import { kernelCounts } from './index.js';

describe.skipIf(addonUnavailableReason !== null)(suiteTitle('onednn layout kernels match the cpu backend'), () => {
  beforeAll(setUpBackends);

  const permutations: Array<[number[], number[]]> = [
    [[3, 4], [1, 0]],
    [[2, 3, 5, 4], [0, 3, 1, 2]],
    [[2, 3, 5, 4], [3, 2, 1, 0]],
    [[1, 7, 1, 3], [2, 0, 3, 1]],
  ];
  for (const [index, [shape, permutation]] of permutations.entries()) {
    it(`Transpose ${JSON.stringify(shape)} by ${JSON.stringify(permutation)}`, async () => {
      const { counts } = await expectMatchesCpu([input(shape, 1 + index)], (x) => tf.transpose(x!, permutation));
      expect(counts.native.Transpose).toBe(1);
    });
  }

  it('PadV2: zero-padding channels (option-A shortcut) and its gradient (a strided Slice)', async () => {
    const { counts } = await expectMatchesCpu([input([2, 4, 4, 16], 5), input([2, 4, 4, 32], 6)], (x, upstream) => {
      const forward = (a: tf.Tensor) => tf.pad(a, [[0, 0], [0, 0], [0, 0], [8, 8]]);
      return [forward(x!), tf.grad((a: tf.Tensor) => tf.sum(tf.mul(forward(a), upstream!)))(x!)];
    });
    expect(counts.native.PadV2).toBe(2);
    expect(counts.native.Slice).toBe(1);
  });

  it('PadV2 with a constant on every axis, odd sizes', async () => {
    const { counts } = await expectMatchesCpu([input([1, 3, 5, 2], 7)], (x) =>
      tf.pad(x!, [[1, 0], [2, 1], [0, 3], [1, 1]], 1.5),
    );
    expect(counts.native.PadV2).toBe(1);
  });

  it('Slice: contiguous slices stay zero-copy in the cpu kernel, strided ones are native', async () => {
    const { counts } = await expectMatchesCpu([input([4, 5, 6, 3], 8)], (x) => [
      tf.slice(x!, [1, 0, 0, 0], [2, 5, 6, 3]),
      tf.slice(x!, [0, 1, 2, 1], [3, 3, 3, 2]),
    ]);
    expect(counts.fallback.Slice).toBe(1);
    expect(counts.native.Slice).toBe(1);
  });

  it('StridedSlice x[:, ::2, ::2, :] (option-A subsampling)', async () => {
    const { counts } = await expectMatchesCpu([input([2, 8, 7, 3], 9)], (x) =>
      tf.stridedSlice(x!, [0, 0, 0, 0], [2, 8, 7, 3], [1, 2, 2, 1]),
    );
    expect(counts.native.StridedSlice).toBe(1);
  });

  it('StridedSlice with masks and a shrunk last axis (x[:, 1:6:2, 0:5:3, 2])', async () => {
    // The cpu kernel indexes a rank-4 input with rank-3 positions here and returns the wrong
    // elements, so the reference is written out directly.
    const shape = [3, 6, 5, 4];
    const spec = input(shape, 10);
    const before = kernelCounts();
    const { shapes, values } = await runOn('onednn', [spec], (x) =>
      tf.stridedSlice(x!, [0, 1, 0, 2], [0, 6, 5, 3], [1, 2, 3, 1], 0b0001, 0b0001, 0, 0, 0b1000),
    );
    const expected: number[] = [];
    for (let n = 0; n < 3; ++n) for (const h of [1, 3, 5]) for (const w of [0, 3]) expected.push(spec.values[((n * 6 + h) * 5 + w) * 4 + 2]!);
    expect(shapes[0]).toEqual([3, 3, 2]);
    expect(Array.from(values[0]!)).toEqual(expected);
    expect(countsDelta(before, kernelCounts()).native.StridedSlice).toBe(1);
  });
});
